"""An upstream system hands its notices to `syndicate serve` over HTTP.

Standard-library Python only, so it runs with any Python 3.11, as a stand-in
for the e-tendering, procurement or land-trading system on another server
(the same calls from Java or curl look alike):

    syndicate token create --name e-tendering --scope enqueue --scope read
    SYNDICATE_URL=http://127.0.0.1:8000 SYNDICATE_TOKEN=syn_... \\
        python3 examples/upstream_client_http.py examples/notices/construction-tender.json

It enqueues the notice, sends it again (accepted once: the API is idempotent
on id and version), shows how a bad notice is refused field by field, then
waits until every channel has taken it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BASE = os.environ.get("SYNDICATE_URL", "http://127.0.0.1:8000")
TOKEN = os.environ.get("SYNDICATE_TOKEN", "")


def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request; the status and the JSON answer, errors (problem+json) included."""
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(f"{BASE}{path}", data=data, method=method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def main(path: str) -> int:
    if not TOKEN:
        print("set SYNDICATE_TOKEN (syndicate token create --scope enqueue --scope read ...)")
        return 2
    notice = json.loads(Path(path).read_text(encoding="utf-8"))
    key = f"{notice['id']}.v{notice['version']}"

    status, answer = call("POST", "/v1/notices", notice)
    if status not in (200, 201):
        print(f"refused ({status}): {answer.get('detail')}")
        return 1
    print(f"{status} {answer['status']}: {key} → {', '.join(answer['channels'])}")
    print(f"  content digest {answer['digest']}")

    # Sending the same id and version again is safe: it is accepted once.
    status, answer = call("POST", "/v1/notices", notice)
    print(f"{status} {answer['status']}: {key}")

    # A bad notice is refused with every problem named by field, and nothing is stored.
    broken = {**notice, "id": f"{notice['id']}-X", "region_code": "4416", "publish_at": "soon"}
    status, answer = call("POST", "/v1/notices", broken)
    print(f"{status} {answer['title']}:")
    for problem in answer["errors"]:
        print(f"  {problem['field']}: {problem['message']}")

    # The worker (inside `syndicate serve`, or a `syndicate run` beside it) delivers.
    deadline = time.monotonic() + 60
    while True:
        status, answer = call("GET", f"/v1/notices/{notice['id']}")
        if status != 200:
            print(f"cannot read the notice back ({status}): {answer.get('detail')}")
            return 1
        (version,) = [v for v in answer["versions"] if v["version"] == notice["version"]]
        waiting = [d for d in version["deliveries"] if d["state"] in ("pending", "in_flight")]
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for delivery in version["deliveries"]:
        where = delivery.get("remote_url") or delivery.get("last_error") or ""
        print(f"{key} → {delivery['channel']}: {delivery['state']} {where}".rstrip())
    return 0


if __name__ == "__main__":
    default = "examples/notices/construction-tender.json"
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
