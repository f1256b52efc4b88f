# Sourced by benches/http2.sh: makes sure target/tools/h2load holds h2load from Debian's
# nghttp2-client, at the pinned versions below, with the two libraries it needs that a
# bare machine lacks (benches/debian.sh), and sets $h2load to a command that runs it.
source benches/debian.sh
debian_tool h2load "nghttp2-client=1.52.0-1+deb12u3 libev4=1:4.33-1 libjemalloc2=5.3.0-1"
h2load="env LD_LIBRARY_PATH=$PWD/target/tools/h2load/root/usr/lib/x86_64-linux-gnu $PWD/target/tools/h2load/root/usr/bin/h2load"
