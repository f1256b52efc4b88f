# Sourced by the bench scripts that run wrk: makes sure target/tools/wrk holds wrk from
# Debian, at the pinned versions below, with the LuaJIT library a bare machine lacks,
# and sets $wrk to a command that runs it (a wrk on the PATH is used as it is). Needs
# no root: `apt-get download` and `dpkg -x` into the target directory.
wrk_packages="wrk=4.1.0-3+b2 libluajit-5.1-2=2.1.0~beta3+git20220320+dfsg-4.1+deb12u1 libluajit-5.1-common=2.1.0~beta3+git20220320+dfsg-4.1+deb12u1"
if command -v wrk >/dev/null; then
  wrk=wrk
else
  wrk_root=target/tools/wrk
  mkdir -p "$wrk_root"
  (
    flock 9
    if ! cmp -s <(echo "$wrk_packages") "$wrk_root/packages.installed" 2>/dev/null; then
      rm -rf "$wrk_root/debs" "$wrk_root/root"
      mkdir -p "$wrk_root/debs"
      # shellcheck disable=SC2086 # one argument per package
      (cd "$wrk_root/debs" && apt-get download $wrk_packages >/dev/null 2>&1) &&
        for deb in "$wrk_root"/debs/*.deb; do dpkg -x "$deb" "$wrk_root/root" || exit 1; done &&
        echo "$wrk_packages" > "$wrk_root/packages.installed"
    fi
  ) 9>target/wrk-install.lock
  wrk="env LD_LIBRARY_PATH=$PWD/$wrk_root/root/usr/lib/x86_64-linux-gnu $PWD/$wrk_root/root/usr/bin/wrk"
fi
