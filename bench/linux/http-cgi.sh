#!/bin/sh
# http-cgi.sh: busybox httpd CGI of the Linux guest's HTTP mode; installed as /bench/www/cgi-bin/empty
# and /bench/www/cgi-bin/echo, and as /bench/www/cgi-bin/python_<workload> for each Python function.
# Every request starts one container with crun (a cold start, like a MettEagle invocation): `empty`
# runs the empty program and answers 200 with an empty body, `echo` runs the echo program with the
# request body on its standard input and answers with its output, `python_<workload>` runs
# `/usr/bin/python3 /function/<workload>.py` in the Python image's tree (bundle py-<workload>) with
# the request body ({"size": ...}) on its standard input and answers with its output.
# A failed container start answers 500, which the host-side runner (wrk) counts as an error.
name=${0##*/}
id="http-$$"
out=/tmp/cgi-$$.out
case $name in
empty) /usr/bin/crun --cgroup-manager=disabled run --no-pivot --bundle /bench/bundles/plain "$id" </dev/null >"$out" 2>/dev/null ;;
echo) /usr/bin/crun --cgroup-manager=disabled run --no-pivot --bundle /bench/bundles/echo "$id" >"$out" 2>/dev/null ;;
python_*) /usr/bin/crun --cgroup-manager=disabled run --no-pivot --bundle "/bench/bundles/py-${name#python_}" "$id" \
    >"$out" 2>/dev/null ;;
*) false ;;
esac
rc=$?
if [ $rc -eq 0 ]; then
    # Content-Length lets the client see the end of the body without waiting for the close.
    printf 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %s\r\n\r\n' "$(wc -c <"$out")"
    cat "$out"
else
    printf 'HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n'
fi
rm -f "$out"
