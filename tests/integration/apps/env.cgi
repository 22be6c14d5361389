#!/bin/sh
# For the integration tests: the CGI environment the script got, one
# NAME=value a line, then the sha256 of the request body it read.
printf 'Content-Type: text/plain\r\n\r\n'
env
printf 'BODY_SHA256=%s\n' "$(sha256sum | cut -d' ' -f1)"
