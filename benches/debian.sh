# Sourced by benches/h2load.sh and benches/wrk.sh: `debian_tool NAME PACKAGES` makes
# sure target/tools/NAME/root holds the Debian packages PACKAGES (name=version, one
# argument), unpacked, fetched again whenever the list changes. Needs no root:
# `apt-get download` and `dpkg -x` into the target directory. One installer at a time,
# across processes too.
debian_tool() {
  local name=$1 packages=$2 root=target/tools/$1
  mkdir -p "$root"
  (
    flock 9
    if ! cmp -s <(echo "$packages") "$root/packages.installed" 2>/dev/null; then
      rm -rf "$root/debs" "$root/root"
      mkdir -p "$root/debs"
      # shellcheck disable=SC2086 # one argument per package
      (cd "$root/debs" && apt-get download $packages >/dev/null 2>&1) &&
        for deb in "$root"/debs/*.deb; do dpkg -x "$deb" "$root/root" || exit 1; done &&
        echo "$packages" > "$root/packages.installed"
    fi
  ) 9>"target/$name-install.lock"
}
