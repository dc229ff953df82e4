"""Domain errors. Entry points turn them into one-line CLI errors or HTTP problem responses."""


class FacetError(Exception):
    """Base of every error Facet reports to its user (as opposed to a bug)."""


class DumpError(FacetError):
    """The catalogue dump as a whole cannot be read (missing, unreadable, no `sku` column...)."""


class IngestAborted(FacetError):
    """An ingest ran but wrote nothing (e.g. `--strict` with rejected rows)."""


class DeletionRefused(IngestAborted):
    """A `--full` ingest would soft-delete more of the catalogue than allowed: nothing written."""


class ImageDecodeError(FacetError):
    """An image could not be decoded; `reason` is a short machine-readable category."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BackboneUnavailable(FacetError):
    """A backbone cannot be built: unknown name, or no usable weights."""


class IndexNotReady(FacetError):
    """No index has been built yet (or the current one cannot be read)."""


class IncompatibleIndex(FacetError):
    """The index was built from another backbone or dimension than the one in use."""


class UnknownProduct(FacetError):
    """No active product has this SKU."""


class UnknownBuild(FacetError):
    """No kept index build has this id (never published, or pruned since)."""


class StaleBuild(FacetError):
    """A publisher built on a build that is no longer current (someone published meanwhile)."""


class PublishBusy(FacetError):
    """Another process held the publish lock for longer than this one may wait."""


class UnsafeImageFile(FacetError):
    """A local image path that is not a plain, bounded file (FIFO, device, /proc, too large...).

    `reason` is "not-a-file" or "too-large".
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BackendUnavailable(FacetError):
    """The configured index backend cannot be used here (its package is missing, its server
    unreachable) or cannot do what was asked of it (a FAISS-only index feature on Milvus)."""


class InvalidReference(FacetError):
    """Defect inspection cannot use this reference: no such product, category or folder, or
    too few readable good photos in it."""
