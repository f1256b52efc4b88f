# Sourced by benches/http2.sh and run by the tests: makes sure target/tools/h2load holds
# h2load from Debian's nghttp2-client, at the pinned versions below, with the two
# libraries it needs that a bare machine lacks, and sets $h2load to a command that runs
# it. Needs no root: `apt-get download` and `dpkg -x` into the target directory. One
# installer at a time, across test processes too.
h2load_packages="nghttp2-client=1.52.0-1+deb12u3 libev4=1:4.33-1 libjemalloc2=5.3.0-1"
h2load_root=target/tools/h2load
mkdir -p "$h2load_root"
(
  flock 9
  if ! cmp -s <(echo "$h2load_packages") "$h2load_root/packages.installed" 2>/dev/null; then
    rm -rf "$h2load_root/debs" "$h2load_root/root"
    mkdir -p "$h2load_root/debs"
    # shellcheck disable=SC2086 # one argument per package
    (cd "$h2load_root/debs" && apt-get download $h2load_packages >/dev/null 2>&1) &&
      for deb in "$h2load_root"/debs/*.deb; do dpkg -x "$deb" "$h2load_root/root" || exit 1; done &&
      echo "$h2load_packages" > "$h2load_root/packages.installed"
  fi
) 9>target/h2load-install.lock
h2load="env LD_LIBRARY_PATH=$PWD/$h2load_root/root/usr/lib/x86_64-linux-gnu $PWD/$h2load_root/root/usr/bin/h2load"
