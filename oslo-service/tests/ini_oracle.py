"""What oslo.config's own parser makes of INI texts, for oslo-service/tests/ini.rs.

Reads a JSON list of texts on stdin; writes a JSON list with, for each text, either
{"sections": {section: {key: [values]}}} or {"error_line": N}, as oslo.config's
ConfigParser reads the text from a file.
"""

import json
import os
import sys
import tempfile

from oslo_config import cfg, iniparser


def read(text, path):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    sections = {}
    try:
        cfg.ConfigParser(path, sections).parse()
    except iniparser.ParseError as err:
        return {"error_line": err.lineno}
    return {"sections": sections}


def main():
    texts = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "case.conf")
        json.dump([read(text, path) for text in texts], sys.stdout)


if __name__ == "__main__":
    main()
