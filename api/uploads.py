"""Reading uploaded images: allowed types only, and never more bytes than the limit."""

from __future__ import annotations

from fastapi import UploadFile

from api.errors import ProblemError

ALLOWED_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
CHUNK = 64 * 1024


async def read_upload(upload: UploadFile, *, max_bytes: int) -> bytes:
    """The upload's bytes.

    Raises:
        ProblemError: 415 for a type other than JPEG, PNG, WebP or GIF; 413 over `max_bytes`
            (reading stops at the limit); 422 for an empty file.
    """
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"{content_type or 'no content type'} is not one of {', '.join(sorted(ALLOWED_TYPES))}",
        )
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise ProblemError(
                413, "upload-too-large", "Upload too large", f"more than {max_bytes:,} bytes"
            )
        chunks.append(chunk)
    if not size:
        raise ProblemError(422, "undecodable-image", "The image cannot be decoded", "empty file")
    return b"".join(chunks)
