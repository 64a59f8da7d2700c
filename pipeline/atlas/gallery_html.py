"""The building blocks of the gallery page (pipeline.atlas.gallery): images as PNG data URIs and bits of HTML.

A thumbnail is the image's real pixels, each repeated by a whole factor (nearest neighbour, as
``pipeline.inspect_picture.upscale`` does for the inspect picture), encoded as a PNG written here with
zlib so the page needs no file beside it, no JavaScript and no imaging library: the same pixels give
the same bytes. Grey images are 8-bit grey PNGs, colour images 8-bit RGB.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib

import numpy as np

from pipeline.inspect_picture import upscale

THUMB = 64  # pixels of a thumbnail's longer side, about: 8 x 8 images are drawn 8 times their size

STYLE = """
body { font-family: sans-serif; font-size: 13px; margin: 16px; color: #111; background: #fff; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 22px 0 6px; border-bottom: 1px solid #999; }
h3 { font-size: 14px; margin: 14px 0 4px; }
p.note { margin: 2px 0 6px; color: #333; max-width: 70em; }
code { font-size: 12px; }
table { border-collapse: collapse; margin: 4px 0 10px; }
th, td { border: 1px solid #ccc; padding: 2px 5px; vertical-align: middle; text-align: left; }
th { background: #eee; font-weight: normal; font-size: 11px; }
td.rank { text-align: right; font-size: 11px; white-space: nowrap; }
img.thumb { image-rendering: pixelated; display: block; }
figure { display: inline-block; margin: 0 6px 2px 0; vertical-align: top; font-size: 10px; }
figcaption { white-space: pre-line; }
.planted { color: #b00; font-weight: bold; }
"""


def as_uint8(image) -> np.ndarray:
    """(H, W) grey or (H, W, 3) colour uint8 pixels of an image: uint8 as it is, floats in [0, 1] scaled
    (as pipeline.plotting.show_image reads them); one channel squeezed, an alpha channel dropped."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG of (H, W) grey or (H, W, 3) RGB uint8 ``pixels``."""
    height, width = pixels.shape[:2]
    color_type = 0 if pixels.ndim == 2 else 2

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter 0 (none) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def thumbnail(image, alt: str, **attributes) -> str:
    """An <img> of ``image`` at about THUMB pixels, its real pixels enlarged by a whole factor; ``attributes``
    become data-* attributes (data_index=3 -> data-index="3") that say what it shows."""
    pixels = upscale(as_uint8(image), THUMB)
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")
    data = "".join(f' data-{name.replace("_", "-")}="{escape(value)}"' for name, value in attributes.items())
    return (f'<img class="thumb" src="{uri}" width="{pixels.shape[1]}" height="{pixels.shape[0]}" '
            f'alt="{escape(alt)}"{data}>')


def escape(value) -> str:
    return html.escape(str(value), quote=True)


def figure(image_html: str, caption: str) -> str:
    """An image with its caption below it (newlines kept)."""
    return f"<figure>{image_html}<figcaption>{escape(caption)}</figcaption></figure>"


def table(header: list[str], rows: list[str], **attributes) -> str:
    """A <table> of the header cells (text) and ``rows`` (whole <tr> elements)."""
    data = "".join(f' data-{name.replace("_", "-")}="{escape(value)}"' for name, value in attributes.items())
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    return f"<table{data}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page(title: str, body: list[str], meta: dict[str, str]) -> str:
    """The whole self-contained page: ``meta`` as <meta name content> tags, then the body's pieces."""
    tags = "".join(f'<meta name="{escape(name)}" content="{escape(value)}">' for name, value in meta.items())
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{tags}<title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
