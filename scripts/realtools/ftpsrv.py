#!/usr/bin/env python3
"""FTP victim for scripts/capture-realtools.sh: pyftpdlib (Debian python3-pyftpdlib).

    ftpsrv.py ADDR HOME       serve ftp://ADDR:21, one account rtbob / correct-horse rooted at HOME

Run inside a network namespace only. pyftpdlib answers a wrong password with 530 after its
default one-second delay, as vsftpd and ProFTPD delay failed logins.
"""

from __future__ import annotations

import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    auth = DummyAuthorizer()
    auth.add_user("rtbob", "correct-horse", sys.argv[2], perm="elr")
    FTPHandler.authorizer = auth
    FTPHandler.banner = "(vsFTPd 3.0.3)"
    FTPServer((sys.argv[1], 21), FTPHandler).serve_forever()
