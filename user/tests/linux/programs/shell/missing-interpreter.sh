#!/usr/bin/nothing
echo never
