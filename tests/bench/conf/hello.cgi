#!/bin/sh
# The CGI script of the fcgiwrap row: the least a shell CGI can do.
printf 'Content-Type: text/plain\r\n\r\nhello from CGI\n'
