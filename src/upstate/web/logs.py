"""Keep ping tokens out of access logs: /ping/<token> is a credential in a URL.

cli.py installs it on uvicorn's access logger:
`logging.getLogger("uvicorn.access").addFilter(HidePingTokens())`.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(/ping/)[^/?\s\"]+")


def hide_tokens(text: str) -> str:
    return _TOKEN.sub(r"\1…", text)


class HidePingTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                hide_tokens(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = hide_tokens(record.msg)
        return True
