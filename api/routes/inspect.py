"""Admin: defect inspection of uploaded photos against a product's or a category's photos."""

from __future__ import annotations

import base64
import threading
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep
from api.errors import ProblemError
from api.routes.admin import AdminDep
from api.uploads import read_upload
from search.decoding import UPLOAD_FORMATS, decode_image
from search.inspection.heatmap import overlay_png
from search.inspection.inspector import Inspection, Inspector, open_inspector
from search.inspection.references import Photo, store_reference

router = APIRouter(prefix="/v1", tags=["admin"])
MAX_PHOTOS = 16
# The overlay is drawn on a copy decoded at about this size (never the full photo).
OVERLAY_DECODE = 512
_inspector_lock = threading.Lock()


class Peak(BaseModel):
    x: float = Field(description="Where the heatmap is hottest: fraction of the photo's width")
    y: float = Field(description="... and of its height, from the top")


class InspectedPhoto(BaseModel):
    photo: str = Field(description="The uploaded file's name")
    score: float = Field(description="The largest distance of a patch to its nearest good patch")
    threshold: float
    verdict: str = Field(description="`suspect` when the score is above the threshold, else `ok`")
    peak: Peak
    heatmap_png: str = Field(description="The photo with its heatmap laid over it: base64 PNG")


class ReferenceInfo(BaseModel):
    label: str = Field(description="`sku:X` or `category:X`")
    photos: int = Field(description="Good photos in the bank")
    reused: bool = Field(description="Whether the stored bank was reused (else built now)")
    model: str
    threshold: float


class InspectionOut(BaseModel):
    reference: ReferenceInfo
    results: list[InspectedPhoto]


@router.post("/inspect", response_model=InspectionOut)
async def inspect_photos(
    request: Request,
    service: ServiceDep,
    _: AdminDep,
    photos: Annotated[list[UploadFile], File(description="Photos to inspect (at most 16)")],
    sku: Annotated[str | None, Form(description="Reference: this product's images")] = None,
    category: Annotated[str | None, Form(description="Reference: this category's images")] = None,
) -> InspectionOut:
    """Score photos for defects against good reference photos (PatchCore): a score, a verdict
    (`ok` / `suspect`) and a heatmap per photo. The reference's bank is built on first use."""
    if (sku is None) == (category is None):
        raise ProblemError(
            422, "validation-error", "Invalid request", "send exactly one of sku and category"
        )
    if len(photos) > MAX_PHOTOS:
        raise ProblemError(
            422, "validation-error", "Invalid request", f"at most {MAX_PHOTOS} photos at once"
        )
    limit = service.settings.api.max_upload_bytes
    uploads = [
        Photo(upload.filename or f"photo-{number}", await read_upload(upload, max_bytes=limit))
        for number, upload in enumerate(photos, start=1)
    ]

    def run() -> InspectionOut:
        settings = service.settings
        inspector = _inspector(request)
        reference = store_reference(
            service.engine,
            sku=sku,
            category=category,
            max_bytes=settings.download.max_bytes,
            download_cache=settings.image_cache_dir,
        )
        ready = inspector.bank(reference)
        results = inspector.inspect(ready, uploads, formats=UPLOAD_FORMATS)
        return InspectionOut(
            reference=ReferenceInfo(
                label=ready.label,
                photos=ready.photos,
                reused=ready.reused,
                model=ready.bank.model,
                threshold=ready.bank.threshold,
            ),
            results=[
                _answer(photo, result) for photo, result in zip(uploads, results, strict=True)
            ],
        )

    return await run_in_threadpool(run)


def _inspector(request: Request) -> Inspector:
    """The app's inspector, made on first use (the backbone is loaded once)."""
    with _inspector_lock:
        inspector: Inspector | None = getattr(request.app.state, "inspector", None)
        if inspector is None:
            inspector = open_inspector(request.app.state.service.settings)
            request.app.state.inspector = inspector
        return inspector


def _answer(photo: Photo, result: Inspection) -> InspectedPhoto:
    picture = decode_image(photo.data, draft_size=OVERLAY_DECODE, formats=UPLOAD_FORMATS)
    png = overlay_png(picture, result.heatmap, result.threshold)
    return InspectedPhoto(
        photo=result.name,
        score=result.score,
        threshold=result.threshold,
        verdict=str(result.verdict),
        peak=Peak(x=round(result.peak[0], 4), y=round(result.peak[1], 4)),
        heatmap_png=base64.b64encode(png).decode("ascii"),
    )
