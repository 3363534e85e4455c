"""An upstream system (e-tendering, procurement, land trading) hands its notices to syndicate.

Run it with the Python that syndicate is installed in (the quick start's .venv):

    .venv/bin/python examples/upstream_client.py

Started by another Python (``python3 examples/upstream_client.py``), it runs
itself again with the checkout's .venv, or says how to make one.

It starts a stand-in for the trading website's CMS on loopback, so it needs
nothing else. In production the only differences are the channels file (your
channels.yaml) and that a separate `syndicate run` worker does the delivering.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

VENV_PYTHON = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
try:
    from syndicate import Notice, NoticeError, Syndicator
    from syndicate.demo.http_sink import HttpSink
except ModuleNotFoundError:
    if VENV_PYTHON.exists() and not os.environ.get("SYNDICATE_EXAMPLE_REEXEC"):
        os.environ["SYNDICATE_EXAMPLE_REEXEC"] = "1"  # once: a broken .venv must not loop
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])  # noqa: S606
    sys.exit(
        f"syndicate is not installed for {sys.executable}; from the repository root run "
        "python3.11 -m venv .venv && .venv/bin/pip install -e . "
        "then .venv/bin/python examples/upstream_client.py"
    )

EXAMPLES = Path(__file__).resolve().parent / "notices"

CHANNELS = """
store: {{url: ledger.db}}
channels:
  trading-website:
    adapter: cms_http
    url: {cms}/cms/api/v1/notices
    auth: {{type: bearer, token: "${{CMS_TOKEN}}"}}
    allow_insecure_transport: true
routes:
  - channels: [trading-website]
"""


def main() -> None:
    with HttpSink() as cms, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "channels.yaml"
        config.write_text(CHANNELS.format(cms=cms.url), encoding="utf-8")
        # Secrets come from the environment; here we pass one explicitly.
        with Syndicator.from_config(config, env={"CMS_TOKEN": "example-token"}) as syndicator:
            notice = Notice.parse((EXAMPLES / "construction-tender.json").read_bytes())

            accepted = syndicator.enqueue(notice)
            print(f"{accepted.status}: {notice.key} → {', '.join(accepted.channels)}")
            print(f"  content digest {accepted.digest}")

            # Sending the same id and version again is safe: it is accepted once.
            again = syndicator.enqueue(notice)
            print(f"{again.status}: {notice.key}")

            # A bad notice is refused with every problem named by field.
            broken = json.loads(notice.canonical_json())
            broken.update(id="HYJS-2026-9999", region_code="4416", publish_at="tomorrow")
            try:
                syndicator.enqueue(broken)
            except NoticeError as exc:
                print("refused:")
                for problem in exc.problems:
                    print(f"  {problem}")

            # Normally `syndicate run` does this in its own process.
            syndicator.drain(timeout=30)
            for delivery in syndicator.deliveries().items:
                print(
                    f"{delivery.notice_id}.v{delivery.version} → {delivery.channel}: "
                    f"{delivery.state.value} at {delivery.remote_url}"
                )


if __name__ == "__main__":
    main()
