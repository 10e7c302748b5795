"""A moto server on a loopback port the kernel picks, for the end-to-end tests.

    python3 server.py

Binding port 0 and printing the port it got (its first line on stdout) is what keeps tests
that start servers side by side from racing for one: a port picked by a test and handed on
can be taken by another test in between. The server stops when its stdin closes, so a test
process that dies takes its moto server with it.
"""

import sys

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
