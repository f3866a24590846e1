"""A minimal static HTML page of image tables (written with dominate), for training samples and
test results. Image links are relative, so the folder can be copied or served as it is."""
from __future__ import annotations

from pathlib import Path

import dominate
from dominate.tags import a, br, h3, img, meta, p, table, td, tr


class HTMLPage:
    def __init__(self, folder: str | Path, title: str, refresh: int = 0, filename: str = "index.html"):
        self.folder = Path(folder)
        self.path = self.folder / filename
        self.doc = dominate.document(title=title)
        if refresh > 0:
            with self.doc.head:
                meta(http_equiv="refresh", content=str(refresh))

    def add_header(self, text: str) -> None:
        with self.doc:
            h3(text)

    def add_images(self, images: list[str], labels: list[str], width: int = 256) -> None:
        """One table row: each image (a path relative to the page's folder) with its label below."""
        with self.doc:
            with table(border=1, style="table-layout: fixed;"):
                with tr():
                    for src, label in zip(images, labels):
                        with td(style="word-wrap: break-word;", halign="center", valign="top"):
                            with p():
                                with a(href=src):
                                    img(style=f"width:{width}px", src=src)
                                br()
                                p(label)

    def save(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".html.tmp")
        tmp.write_text(self.doc.render())
        tmp.replace(self.path)
        return self.path
