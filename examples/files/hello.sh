#!/bin/sh
cat /usr/share/hello/banner.txt
cat /etc/motd
