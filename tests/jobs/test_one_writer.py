"""One writer of job state: only lib/jobs/transitions.py builds, updates or assigns Job and JobItem rows."""

from __future__ import annotations

import ast

from bench.writers import write_sites, writers


def test_only_the_transitions_module_writes_job_state() -> None:
    app = {m: sites for m, sites in writers(("lib", "pages", "app.py")).items()}
    assert list(app) == ["lib/jobs/transitions.py"], app


def test_the_rule_sees_each_kind_of_write() -> None:
    """The scan would notice a write slipping back in elsewhere (so the test above can fail)."""
    samples = {
        "from lib.models import JobItem\ns.add(JobItem(job_id=1))": "JobItem(...)",
        "from lib.models import JobItem\ns.exec(update(JobItem).values(status='x'))": "update(JobItem)",
        "from lib.models import JobItem\nitem = s.get(JobItem, 1)\nitem.lease_owner = None": ".lease_owner =",
    }
    for source, expected in samples.items():
        assert any(expected in site for site in write_sites(ast.parse(source))), source
    assert write_sites(ast.parse("from lib.models import Asset\nasset.alt_text = 'x'")) == []
