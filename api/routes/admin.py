"""Admin: upsert and delete single products, reload the index. Guarded by an API key."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep, SessionDep
from api.errors import ProblemError
from api.routes.products import read_product
from api.schemas import ProductOut
from api.service import Live, Service
from api.uploads import read_upload
from search.db import utcnow, writer
from search.decoding import UPLOAD_FORMATS
from search.files import file_signature
from search.product import ProductFields
from search.products import EmbeddedImage, delete_product, upsert_product
from search.vectors import to_blob

router = APIRouter(prefix="/v1", tags=["admin"])
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}


def require_admin(service: ServiceDep, key: Annotated[str | None, Depends(api_key_header)]) -> None:
    """401 without a key, 403 with a wrong one; 403 too when no key is configured."""
    configured = service.settings.api.api_key
    if configured is None:
        raise ProblemError(
            403, "admin-disabled", "Admin API disabled", "set FACET_API__API_KEY to enable it"
        )
    if not key:
        raise ProblemError(
            401,
            "unauthorized",
            "API key required",
            "send the admin key in the X-API-Key header",
        )
    if not secrets.compare_digest(key.encode(), configured.get_secret_value().encode()):
        raise ProblemError(403, "forbidden", "Wrong API key", "the X-API-Key is not valid")


AdminDep = Annotated[None, Depends(require_admin)]


@router.put("/products/{sku:path}", response_model=ProductOut, status_code=200)
async def put_product(
    request: Request,
    response: Response,
    service: ServiceDep,
    session: SessionDep,
    _: AdminDep,
    sku: str,
    images: Annotated[list[UploadFile], File(description="One or more product images")],
    title: Annotated[str | None, Form()] = None,
    description: Annotated[str | None, Form()] = None,
    category: Annotated[str | None, Form()] = None,
    material: Annotated[str | None, Form()] = None,
    style: Annotated[str | None, Form()] = None,
    price: Annotated[float | None, Form(ge=0)] = None,
    currency: Annotated[str | None, Form(pattern="^[A-Za-z]{3}$")] = None,
    in_stock: Annotated[bool | None, Form()] = None,
    attributes: Annotated[str | None, Form(description="A JSON object")] = None,
) -> ProductOut:
    """Insert or replace one product with its images; searchable as soon as this returns."""
    service.live()  # 503 before reading the uploads when no index is loaded
    fields = ProductFields(
        sku=sku.strip(),
        title=title,
        description=description,
        category=category,
        material=material,
        style=style,
        price=price,
        currency=currency.upper() if currency else None,
        in_stock=in_stock,
        attributes=_attributes(attributes),
    )
    uploads = [
        (await read_upload(upload, max_bytes=service.settings.api.max_upload_bytes), upload)
        for upload in images
    ]

    def change(live: Live) -> bool:
        # Embedded here, under the publish lock, with the snapshot the change is applied to:
        # the stored vectors always come from the live index's backbone.
        embedded = [_store_and_embed(service, live, upload, data) for data, upload in uploads]
        with Session(writer(service.engine)) as session:
            created = upsert_product(
                session, fields, embedded, backbone_id=live.manifest.backbone, now=utcnow()
            )
            session.commit()
        return created

    created = await run_in_threadpool(partial(service.write, change, skus=[fields.sku]))
    response.status_code = 201 if created else 200
    return await read_product(request, session, fields.sku)


@router.delete("/products/{sku:path}", status_code=204)
async def remove_product(service: ServiceDep, _: AdminDep, sku: str) -> Response:
    """Soft-delete a product; it leaves search results at once."""
    service.live()

    def change(_live: Live) -> None:
        with Session(writer(service.engine)) as session:
            delete_product(session, sku, now=utcnow())
            session.commit()

    await run_in_threadpool(partial(service.write, change, skus=[sku]))
    return Response(status_code=204)


@router.post("/admin/reload")
async def reload(service: ServiceDep, _: AdminDep) -> dict[str, Any]:
    """Switch to the newest published index build (requests in flight finish on the old one)."""
    manifest = await run_in_threadpool(service.reload)
    return {"build_id": manifest.build_id, "ntotal": manifest.ntotal}


def _attributes(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProblemError(
            422, "validation-error", "Invalid request", f"attributes: invalid JSON: {error.msg}"
        ) from None
    if not isinstance(value, dict):
        raise ProblemError(
            422, "validation-error", "Invalid request", "attributes must be a JSON object"
        )
    return value


def _store_and_embed(
    service: Service, live: Live, upload: UploadFile, data: bytes
) -> EmbeddedImage:
    embedder = live.embedder
    prepared = embedder.preprocessing.load(
        data, max_pixels=service.settings.embed.max_image_pixels, formats=UPLOAD_FORMATS
    )
    vector = embedder.embed_arrays([prepared.pixels])[0]
    digest = hashlib.sha256(data).hexdigest()
    extension = EXTENSIONS.get((upload.content_type or "").split(";")[0].strip(), "")
    path = service.settings.uploads_dir / digest[:2] / f"{digest}{extension}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    uri = Path(path).resolve().as_uri()
    return EmbeddedImage(
        uri, digest, file_signature(uri), prepared.width, prepared.height, to_blob(vector)
    )
