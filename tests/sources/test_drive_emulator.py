"""The Drive emulator answers like Drive where the product depends on it (reference/api-contracts.md §3)."""

from __future__ import annotations

import json

import pytest
from googleapiclient.errors import HttpError

from lib.config import Settings
from lib.sources.drive_client import DriveClient, escape, parse_credentials
from tests.emulators.drive import DriveEmulator, authorized_user_json


@pytest.fixture
def emu():
    with DriveEmulator(page_cap=1000) as e:
        yield e


@pytest.fixture
def svc(emu, tmp_path):
    settings = Settings.load(secrets_file=None, imagegecko_home=tmp_path, drive_root_url=emu.url, http_retries=0)
    return DriveClient(settings, parse_credentials(authorized_user_json(emu))).service


def test_page_size_is_capped_at_1000(svc):
    with pytest.raises(HttpError) as err:
        svc.files().list(pageSize=1001).execute()
    assert err.value.status_code == 400 and "[1, 1000]" in err.value.reason


def test_malformed_queries_are_400(svc):
    with pytest.raises(HttpError) as err:
        svc.files().list(q="name = 'unterminated").execute()
    assert err.value.status_code == 400


def test_trashed_files_are_listed_unless_filtered(emu, svc):
    folder = emu.add_folder("F")
    emu.trash(emu.add_file("old.jpg", folder, b"x"))
    q = f"'{folder}' in parents"
    assert len(svc.files().list(q=q).execute()["files"]) == 1
    assert svc.files().list(q=q + " and trashed = false").execute()["files"] == []


def test_shared_drive_items_need_all_drives_flags(emu, svc):
    drive = emu.add_shared_drive("Team")
    emu.add_file("a.jpg", emu.add_folder("F", drive), b"x")
    assert svc.files().list(q="name = 'a.jpg'").execute()["files"] == []
    with pytest.raises(HttpError):
        svc.files().list(corpora="drive", driveId=drive, q="name = 'a.jpg'").execute()
    found = (
        svc.files()
        .list(
            corpora="drive", driveId=drive, includeItemsFromAllDrives=True, supportsAllDrives=True, q="name = 'a.jpg'"
        )
        .execute()["files"]
    )
    assert [f["name"] for f in found] == ["a.jpg"]


def test_query_operators_and_escaping(emu, svc):
    folder = emu.add_folder("F")
    odd = "it's \\ here.png"
    emu.add_file(odd, folder, b"x", "image/png", app_properties={"k": "v'1"})
    emu.add_file("other.jpg", folder, b"y")
    emu.add_file("notes.pdf", folder, b"z", "application/pdf")

    def names(q: str) -> list[str]:
        return sorted(f["name"] for f in svc.files().list(q=q, fields="files(name)").execute()["files"])

    assert names(f"name = '{escape(odd)}'") == [odd]
    assert names(f"'{folder}' in parents and mimeType contains 'image/'") == ["it's \\ here.png", "other.jpg"]
    assert names(f"'{folder}' in parents and not mimeType contains 'image/'") == ["notes.pdf"]
    assert names("appProperties has { key='k' and value='v\\'1' }") == ["it's \\ here.png"]
    assert names(f"('{folder}' in parents) and (name = 'other.jpg' or mimeType = 'application/pdf')") == [
        "notes.pdf",
        "other.jpg",
    ]


def test_fields_are_honoured(emu, svc):
    folder = emu.add_folder("F")
    emu.add_file("a.jpg", folder, b"x")
    resp = svc.files().list(q=f"'{folder}' in parents", fields="files(id,size)").execute()
    assert set(resp) == {"files"} and set(resp["files"][0]) == {"id", "size"}
    assert set(svc.files().get(fileId=folder).execute()) == {"kind", "id", "name", "mimeType"}


def test_media_download_honours_range(emu, svc):
    file_id = emu.add_file("a.bin", emu.add_folder("F"), bytes(range(256)) * 4, "application/octet-stream")
    request = svc.files().get_media(fileId=file_id)
    resp, body = request.http.request(request.uri, headers={"range": "bytes=10-19"})
    assert resp.status == 206 and resp["content-range"] == "bytes 10-19/1024" and body == bytes(range(10, 20))
    resp, body = request.http.request(request.uri)
    assert resp.status == 200 and len(body) == 1024


def test_folders_are_not_downloadable_and_missing_files_are_404(emu, svc):
    folder = emu.add_folder("F")
    with pytest.raises(HttpError) as err:
        svc.files().get_media(fileId=folder).execute()
    assert err.value.status_code == 403 and err.value.error_details[0]["reason"] == "fileNotDownloadable"
    with pytest.raises(HttpError) as err:
        svc.files().get(fileId="1missing").execute()
    body = json.loads(err.value.content)
    assert body["error"]["errors"][0] == {
        "message": "File not found: 1missing.",
        "domain": "global",
        "reason": "notFound",
        "location": "fileId",
        "locationType": "parameter",
    }
