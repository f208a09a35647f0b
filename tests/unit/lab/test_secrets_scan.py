"""The secrets scanner finds a secret in every form a program writes it, and only there."""
import base64
import gzip
import json
import urllib.parse

import pytest

from lab.secrets_scan import scan, sentinel


def test_finds_each_form_and_nothing_else(tmp_path):
    secret = sentinel("bmc") + "/+&"
    (tmp_path / "clean.log").write_text("nothing to see: " + secret[:-6])
    (tmp_path / "plain.log").write_text(f"password={secret}\n")
    (tmp_path / "url.log").write_text("pw=" + urllib.parse.quote(secret, safe=""))
    (tmp_path / "job.json").write_text(json.dumps({"stdout": f'"{secret}"'}))
    (tmp_path / "hdr.txt").write_text("Authorization: Basic " + base64.b64encode(f"root:{secret}".encode()).decode())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "old.log.gz").write_bytes(gzip.compress(secret.encode()))
    (tmp_path / "disk.raw").write_bytes(secret.encode())
    result = scan([tmp_path], {"bmc": secret}, users=["root"])
    found = {(hit["path"].rsplit("/", 1)[-1], hit["form"]) for hit in result["hits"]}
    assert ("plain.log", "plain") in found
    assert ("url.log", "url-encoded") in found
    assert ("job.json", "json-escaped") in found
    assert ("hdr.txt", "basic-auth(root)") in found
    assert ("old.log.gz", "plain") in found
    assert not any(name in ("clean.log", "disk.raw") for name, _form in found)
    assert result["skipped"] == [str(tmp_path / "disk.raw")]


def test_a_missing_root_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan([tmp_path / "nope"], {"x": sentinel("x")})
