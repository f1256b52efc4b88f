# Sourced by the bench scripts that run wrk: sets $wrk to a command that runs wrk, the
# one on the PATH if there is one, else Debian's at the pinned versions below with the
# LuaJIT library a bare machine lacks, fetched into target/tools/wrk (benches/debian.sh).
if command -v wrk >/dev/null; then
  wrk=wrk
else
  source benches/debian.sh
  debian_tool wrk "wrk=4.1.0-3+b2 libluajit-5.1-2=2.1.0~beta3+git20220320+dfsg-4.1+deb12u1 libluajit-5.1-common=2.1.0~beta3+git20220320+dfsg-4.1+deb12u1"
  wrk="env LD_LIBRARY_PATH=$PWD/target/tools/wrk/root/usr/lib/x86_64-linux-gnu $PWD/target/tools/wrk/root/usr/bin/wrk"
fi
