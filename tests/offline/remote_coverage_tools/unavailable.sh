#!/bin/sh
echo "remote_coverage_tools: offline stand-in; coverage is unavailable" >&2
exit 1
