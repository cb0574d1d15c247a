"""The download page `share` serves at `/`: the shared files, their sizes and direct links.

One self-contained HTML document (inline style, no script, nothing fetched from elsewhere), laid
out for a phone first: a list of large tap targets, each file's name and size. Below them the
magnet link (for a phone with a BitTorrent app) and the .torrent.
"""

from __future__ import annotations

from html import escape

from torrentish.formats.units import format_size

__all__ = ["render_page"]

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;
  background:#f6f7f9;color:#1d2330;line-height:1.4}
main{max-width:40rem;margin:0 auto}
h1{font-size:1.3rem;margin:.2rem 0 1rem;overflow-wrap:anywhere}
ul{list-style:none;padding:0;margin:0 0 1.5rem}
li a{display:flex;justify-content:space-between;gap:1rem;align-items:center;padding:.9rem 1rem;
  margin-bottom:.5rem;background:#fff;border:1px solid #d8dce3;border-radius:.6rem;
  color:#0b57d0;text-decoration:none;font-size:1.05rem}
li a:active{background:#e8f0fe}
.name{overflow-wrap:anywhere}
.size{color:#5b6475;white-space:nowrap;font-size:.95rem}
.other{font-size:.95rem;color:#5b6475}
.other a{color:#0b57d0}
"""


def render_page(name: str, files: list[tuple[str, str, int]], torrent_url: str, magnet: str) -> bytes:
    """The page for a share called `name`: `files` are (URL, path shown, size in bytes)."""
    total = sum(size for _, _, size in files)
    items = "\n".join(
        f'<li><a href="{escape(url)}" download><span class="name">{escape(shown)}</span>'
        f'<span class="size">{escape(format_size(size))}</span></a></li>'
        for url, shown, size in files
    )
    count = f"{len(files)} file{'s' if len(files) != 1 else ''}, {format_size(total)}"
    magnet_line = f'<a href="{escape(magnet)}">magnet link</a> · ' if magnet else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{escape(name)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{escape(name)}</h1>
<p class="other">{escape(count)}: tap a file to download it.</p>
<ul>
{items}
</ul>
<p class="other">With a BitTorrent client: {magnet_line}<a href="{escape(torrent_url)}">.torrent file</a></p>
</main>
</body>
</html>
""".encode()
