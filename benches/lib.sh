# Shared by the bench scripts (sourced, not run): the 720p30 RTMP test file
# and per-thread CPU ticks of the server under test.

# The 720p30 1.5 Mbit/s clip of benches/load.sh with 44.1 kHz stereo AAC
# beside it, in FLV, made once under $MEDIA.
make_rtmp_clip() {
  [[ -f "$MEDIA/rtmp.flv" ]] && return
  mkdir -p "$MEDIA"
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=44100 -t 10 -ac 2 \
    -c:v libx264 -profile:v baseline -preset veryfast -b:v 1500k -maxrate 1500k -bufsize 1500k \
    -g 60 -keyint_min 60 -sc_threshold 0 -c:a aac -b:a 128k -f flv "$MEDIA/rtmp.flv"
}

# Ticks of CPU (user + system) of $server's threads whose name starts with $1.
ticks() {
  local total=0 stat
  for stat in /proc/"$server"/task/*/stat; do
    local line
    line=$(cat "$stat" 2>/dev/null) || continue
    local name=${line#*(}
    name=${name%%)*}
    [[ "$name" == "$1"* ]] || continue
    # Fields after the name: state is 3, utime 14, stime 15.
    local fields=(${line##*) })
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}
