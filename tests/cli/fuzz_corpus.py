"""A corpus of bad and odd inputs for the CLI fuzz test (tests/cli/test_fuzz.py).

Every input is generated here from the public-domain astronaut photo (passed in as
``face_rgb``) or from scratch, so no other photo is committed. One file (or folder) per
class; each class is a separate ``kind``. Images are kept at most 512 px on the long side,
except the deliberately tiny, thin and bomb inputs, so that a run of the CLI on any of them
is fast.

The metadata planted in the inputs uses the marker strings below, so the test can look for
them byte by byte in every output file.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin, features

# Planted in inputs; none of them may appear in any output file.
CAMERA_MAKER = "FuzzSecretCameraMaker"
CAMERA_MODEL = "FuzzSecretModel-9000"
COMMENT = "FuzzSecretComment at home"
XMP_MARKER = "FuzzSecretXmpCreator"
GPS_MARKER = "FuzzSecretGpsArea"
LEAK_MARKERS: tuple[bytes, ...] = tuple(
    text.encode("ascii") for text in (CAMERA_MAKER, CAMERA_MODEL, COMMENT, XMP_MARKER, GPS_MARKER)
)

# The face region of skimage.data.astronaut() (512x512): rows 30-230, columns 140-330.
FACE_ROWS = slice(30, 230)
FACE_COLUMNS = slice(140, 330)

# Header of a PNG file; chunk writer below builds the rest.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class CorpusItem:
    """One fuzz input: its class (``kind``), where it is, and what makes it odd."""

    kind: str
    path: Path
    note: str


# -- low-level writers ----------------------------------------------------------------------
def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with a valid CRC, so only what we mean to break is broken."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG from a header and an already compressed IDAT payload."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def rgb48_png(rgb16: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (48-bit), which Pillow cannot write from an array."""
    height, width, _ = rgb16.shape
    rows = rgb16.astype(">u2").reshape(height, width * 6 // 2).view(np.uint8).reshape(height, width * 6)
    raw = np.hstack((np.zeros((height, 1), np.uint8), rows)).tobytes()  # filter byte 0 per row
    return png_bytes(width, height, 16, 2, zlib.compress(raw, 9))


def _s15f16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15f16(x) + _s15f16(y) + _s15f16(z)


def _description_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_text)) + ascii_text
            + b"\0" * 8 + b"\0" * 3 + b"\0" * 67)  # no Unicode, no ScriptCode description


def wide_gamut_icc_profile() -> bytes:
    """A minimal ICC v2 display profile with Adobe RGB (1998) primaries and gamma 2.2.

    Pillow can only create sRGB, LAB and XYZ profiles; this one has a wider gamut than sRGB,
    so a decoder that ignores it shows visibly wrong colours, and one that keeps it in the
    output leaks a non-sRGB profile.
    """
    gamma = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, 563) + b"\0\0"  # u8Fixed8 2.19921875
    tags = [
        (b"desc", _description_tag("Fuzz wide-gamut RGB")),
        (b"cprt", b"text" + b"\0" * 4 + b"No copyright, test data\0"),
        (b"wtpt", _xyz_tag(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz_tag(0.6097, 0.3111, 0.0195)),
        (b"gXYZ", _xyz_tag(0.2053, 0.6257, 0.0609)),
        (b"bXYZ", _xyz_tag(0.1492, 0.0632, 0.7446)),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        padded = data + b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 4 + b"\0" * 4 + b"\0" * 8
              + b"\0" * 8 + struct.pack(">I", 0) + _s15f16(0.9642) + _s15f16(1.0) + _s15f16(0.8249)
              + b"\0" * 4 + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def _jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def _png(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def private_exif(orientation: int | None = None) -> Image.Exif:
    """EXIF with a camera maker, model, GPS position and (optionally) an orientation."""
    exif = Image.Exif()
    exif[0x010F] = CAMERA_MAKER  # Make
    exif[0x0110] = CAMERA_MODEL  # Model
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.2), 0x001C: GPS_MARKER}
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


def xmp_packet() -> bytes:
    return (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="' + XMP_MARKER.encode()
            + b'"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def with_jpeg_segments(jpeg: bytes, *segments: tuple[int, bytes]) -> bytes:
    """Insert APPn/COM segments right after SOI."""
    extra = b"".join(b"\xff" + bytes([marker]) + struct.pack(">H", len(data) + 2) + data for marker, data in segments)
    return jpeg[:2] + extra + jpeg[2:]


# -- the corpus -----------------------------------------------------------------------------
def build_corpus(folder: Path, face_rgb: np.ndarray) -> list[CorpusItem]:
    """Write one input per class into ``folder`` (created) and describe each.

    ``face_rgb`` is the astronaut photo (512x512 RGB ``uint8``). Kinds that need a feature
    this machine lacks (AVIF writing, pillow-heif) fall back as described in their note.
    """
    folder.mkdir(parents=True, exist_ok=True)
    items: list[CorpusItem] = []
    face = Image.fromarray(face_rgb)
    small_face = face.resize((256, 256), Image.Resampling.LANCZOS)
    rng = np.random.default_rng(20240611)

    def add(kind: str, name: str, data: bytes, note: str) -> None:
        path = folder / name
        path.write_bytes(data)
        items.append(CorpusItem(kind=kind, path=path, note=note))

    full_jpeg = _jpeg(face)
    full_png = _png(small_face)
    add("plain_photo", "astronaut.png", full_png, "control: an ordinary 256x256 face photo, no metadata")
    add("truncated_jpeg", "truncated.jpg", full_jpeg[: len(full_jpeg) // 2], "JPEG cut in half")
    add("truncated_png", "truncated.png", full_png[: len(full_png) // 2], "PNG cut in half (no IEND)")
    add("disguised_text", "letter.jpg", b"Dear user,\nthis is a text file with an image name.\n" * 20,
        "plain text named .jpg")
    add("disguised_png", "really-a-png.jpg", full_png, "PNG bytes named .jpg")

    # 20000 x 20000 grey: 400 MP, refused from the header. The IDAT holds only a few
    # compressed zero rows, so the file is tiny and a decoder that starts anyway gets nothing.
    add("pixel_bomb", "bomb.png", png_bytes(20000, 20000, 8, 0, zlib.compress(b"\0" * 20001 * 4, 9)),
        "PNG header claiming 20000x20000 (400 MP), valid CRCs, tiny IDAT")

    add("cmyk_jpeg", "cmyk.jpg", _jpeg(small_face.convert("CMYK")), "CMYK JPEG (Adobe APP14)")

    grey16 = (np.asarray(small_face.convert("L"), np.uint16) * 257).astype(np.uint16)
    add("png16_grey", "grey16.png", _png(Image.fromarray(grey16)), "16-bit greyscale PNG (I;16)")
    rgb16 = np.asarray(small_face, np.uint16) * 257
    add("png48_rgb", "rgb48.png", rgb48_png(rgb16), "16-bit-per-channel RGB PNG (48-bit), hand-written")

    palette = small_face.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    add("palette_png", "palette.png", _png(palette), "P mode PNG, 64 colours")
    with_transparency = palette.copy()
    corner_index = with_transparency.getpixel((0, 0))
    add("palette_png_transparent", "palette-trns.png", _png(with_transparency, transparency=corner_index),
        "P mode PNG with a tRNS entry (one palette colour transparent)")

    # Stored sideways; the EXIF orientation says how to turn it upright.
    add("exif_rotated_6", "rotated-6.jpg", _jpeg(small_face.transpose(Image.Transpose.ROTATE_90),
                                                 exif=private_exif(orientation=6)), "EXIF orientation 6 (+GPS)")
    add("exif_rotated_8", "rotated-8.jpg", _jpeg(small_face.transpose(Image.Transpose.ROTATE_270),
                                                 exif=private_exif(orientation=8)), "EXIF orientation 8 (+GPS)")

    add("icc_wide_gamut", "wide-gamut.jpg", _jpeg(small_face, icc_profile=wide_gamut_icc_profile()),
        "JPEG with an Adobe-RGB-like ICC profile (hand-built)")
    from PIL import ImageCms

    lab_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    add("icc_wrong_space", "lab-profile.png", _png(small_face, icc_profile=lab_profile),
        "RGB PNG tagged with a LAB ICC profile (mismatched colour space)")

    private = with_jpeg_segments(_jpeg(small_face, exif=private_exif()),
                                  (0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp_packet()),
                                  (0xFE, COMMENT.encode()))
    add("exif_gps_maker", "private.jpg", private, "JPEG with EXIF camera maker/model, GPS, XMP and a comment")
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", COMMENT)
    text.add_text("Author", CAMERA_MAKER, zip=True)
    text.add_itxt("XML:com.adobe.xmp", xmp_packet().decode())
    add("png_text_chunks", "private.png", _png(small_face, pnginfo=text, exif=private_exif()),
        "PNG with tEXt/zTXt/iTXt (XMP) chunks and an eXIf chunk")

    frames = [small_face, small_face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), small_face.convert("L").convert("RGB")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    add("animated_gif", "animated.gif", gif.getvalue(), "animated GIF, 3 frames")

    if features.check("avif"):
        avif = io.BytesIO()
        small_face.save(avif, format="AVIF", quality=60)
        add("avif", "photo.avif", avif.getvalue(), "AVIF written by Pillow")
    else:
        add("avif", "photo.avif", b"\0\0\0\x20ftypavif\0\0\0\0avifmif1miaf" + bytes(64),
            "AVIF ftyp header only (this Pillow cannot write AVIF)")
    try:
        import pillow_heif
    except ImportError:
        add("heic", "photo.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64),
            "HEIC ftyp header only (pillow-heif is not installed)")
    else:
        heic = io.BytesIO()
        pillow_heif.from_pillow(small_face).save(heic, format="HEIF", quality=80)
        add("heic", "photo.heic", heic.getvalue(), "HEIC written by pillow-heif")
    add("heic_fake", "fake.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + rng.bytes(200),
        "HEIC ftyp box followed by noise")

    add("no_face", "wall.png", _png(Image.fromarray(np.full((300, 400, 3), 150, np.uint8))),
        "plain grey wall 400x300")

    crop = Image.fromarray(face_rgb[FACE_ROWS, FACE_COLUMNS]).resize((95, 100), Image.Resampling.LANCZOS)
    grid = Image.new("RGB", (5 * 100, 4 * 110), (200, 200, 200))
    for index in range(20):
        grid.paste(crop, ((index % 5) * 100 + 2, (index // 5) * 110 + 5))
    add("twenty_faces", "crowd.png", _png(grid), "20 astronaut faces in a 5x4 grid")

    for width, height in ((1, 1), (16, 16), (1, 5000), (40, 8000)):
        pixels = np.full((height, width, 3), 128, np.uint8)
        add(f"tiny_{width}x{height}", f"tiny-{width}x{height}.png", _png(Image.fromarray(pixels)),
            f"{width}x{height} grey")

    clear = np.zeros((256, 256, 4), np.uint8)
    clear[..., :3] = np.asarray(small_face)  # a photo nobody can see
    add("fully_transparent", "invisible.png", _png(Image.fromarray(clear)),
        "RGBA PNG with alpha 0 everywhere (photo hidden under it)")

    cut = np.dstack((np.asarray(small_face), np.zeros((256, 256), np.uint8)))
    cut[:, 85:171, 3] = 255
    hidden = cut[..., 3] == 0
    cut[hidden, :3] = rng.integers(0, 256, size=(int(hidden.sum()), 3), dtype=np.uint8)
    add("cutout_rgba", "cutout.png", _png(Image.fromarray(cut)),
        "RGBA cut-out: middle third opaque, noise under alpha 0 left and right")

    add("long_name", "n" * 211 + ".png", full_png, "valid PNG, 215-character file name")
    add("dash_name", "-rf.png", full_png, "valid PNG whose name starts with '-'")
    add("newline_name", "new\nline.png", full_png, "valid PNG with a newline in its name")
    add("empty_file", "empty.png", b"", "0-byte .png")

    fifo = folder / "pipe.png"
    os.mkfifo(fifo)
    items.append(CorpusItem(kind="fifo", path=fifo, note="named pipe called .png (reading it would block)"))
    zero = folder / "zero.png"
    zero.symlink_to("/dev/zero")
    items.append(CorpusItem(kind="symlink_dev_zero", path=zero, note="symlink zero.png -> /dev/zero (endless)"))

    empty_folder = folder / "empty-folder"
    empty_folder.mkdir()
    items.append(CorpusItem(kind="empty_folder", path=empty_folder, note="folder with nothing in it"))
    text_folder = folder / "text-only"
    text_folder.mkdir()
    (text_folder / "readme.txt").write_text("not an image\n")
    items.append(CorpusItem(kind="folder_only_txt", path=text_folder, note="folder holding only a .txt"))
    directory_png = folder / "x.png"
    directory_png.mkdir()
    items.append(CorpusItem(kind="directory_named_png", path=directory_png, note="a folder named x.png"))
    return items
