"""asv's published site made self-contained.

asv's pages load jQuery, flot, bootstrap and three small plug-ins from CDNs, which a
machine without internet (CI, an air-gapped lab) cannot reach, so the graphs never draw
there, and which a reader may not want contacted. ``vendor`` asks the npm registry for
each library's sha512 integrity on every run, downloads its tarball only when the copy
cached under ``.asv/vendor`` does not match it, copies the file into ``<html>/vendor/``
and points the pages at it. A CDN address it does not know is an error, so an asv upgrade
that adds one cannot leave a page half-offline unnoticed.

    python -m conformance.speed.site reports/asv/html
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
CACHE = Path(__file__).resolve().parents[2] / ".asv" / "vendor"
ASSETS: dict[str, tuple[str, str, str]] = {
    # file name in asv's CDN address -> (npm package, version, file in the package)
    "jquery-3.3.1.min.js": ("jquery", "3.3.1", "dist/jquery.min.js"),
    "jquery.flot.min.js": ("flot", "0.8.3", "jquery.flot.js"),
    "jquery.flot.time.min.js": ("flot", "0.8.3", "jquery.flot.time.js"),
    "jquery.flot.selection.min.js": ("flot", "0.8.3", "jquery.flot.selection.js"),
    "jquery.flot.categories.min.js": ("flot", "0.8.3", "jquery.flot.categories.js"),
    "jquery.flot.orderBars.js": ("flot-orderbars", "1.0.0", "js/jquery.flot.orderBars.js"),
    # cdnjs serves stupidtable 1.0.1; npm has 1.1.3, the same jQuery plug-in API
    "stupidtable.min.js": ("stupid-table-plugin", "1.1.3", "stupidtable.min.js"),
    "md5.min.js": ("blueimp-md5", "2.19.0", "js/md5.min.js"),
    "bootstrap.min.js": ("bootstrap", "3.1.1", "dist/js/bootstrap.min.js"),
    "bootstrap.min.css": ("bootstrap", "3.1.1", "dist/css/bootstrap.min.css"),
}
_TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE | re.DOTALL)
_URL = re.compile(r'(src|href)="(https?://[^"]+)"')
_REMOTE_ONLY = re.compile(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"')


class VendorError(RuntimeError):
    """A library could not be fetched or verified, or a page names an unknown CDN file."""


def _tarball(package: str, version: str) -> bytes:
    """The package's npm tarball, from the cache or the registry, integrity-checked."""
    cached = CACHE / f"{package}-{version}.tgz"
    with urllib.request.urlopen(f"{REGISTRY}/{package}/{version}", timeout=60) as answer:
        dist = json.load(answer)["dist"]
    algorithm, _, digest = dist["integrity"].partition("-")
    if algorithm != "sha512":
        raise VendorError(f"{package}@{version}: integrity {algorithm}, expected sha512")
    data = cached.read_bytes() if cached.exists() else b""
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != digest:
        with urllib.request.urlopen(dist["tarball"], timeout=120) as answer:
            data = answer.read()
        if base64.b64encode(hashlib.sha512(data).digest()).decode() != digest:
            raise VendorError(f"{package}@{version}: tarball does not match its integrity")
        CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
    return data


def _extract(package: str, version: str, member: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(_tarball(package, version)), mode="r:gz") as archive:
        handle = archive.extractfile(f"package/{member}")
        if handle is None:
            raise VendorError(f"{package}@{version} has no {member}")
        return handle.read()


def vendor(html: Path) -> list[str]:
    """Point every page of the site in ``html`` at local copies; the files vendored."""
    target = html / "vendor"
    target.mkdir(exist_ok=True)
    written: set[str] = set()

    def local(tag: re.Match[str]) -> str:
        found = _URL.search(tag.group(0))
        if found is None:
            return tag.group(0)
        name = found.group(2).rsplit("/", 1)[-1]
        if name not in ASSETS:
            raise VendorError(f"unknown CDN file {found.group(2)}: add it to ASSETS")
        if name not in written:
            (target / name).write_bytes(_extract(*ASSETS[name]))
            written.add(name)
        rewritten = tag.group(0).replace(found.group(2), f"vendor/{name}")
        return _REMOTE_ONLY.sub("", rewritten)

    for page in sorted(html.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        page.write_text(_TAG.sub(local, text), encoding="utf-8")
    return sorted(written)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/asv/html")
    try:
        print(f"vendored into {folder / 'vendor'}: {', '.join(vendor(folder)) or 'nothing'}")
    except (OSError, VendorError) as exc:
        print(f"vendoring the asv site failed: {exc}", file=sys.stderr)
        sys.exit(1)
