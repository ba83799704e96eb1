"""A Shopify shop as a publish target: staged upload → fileCreate → wait until READY → attach/reorder → read back.

How the protocol's operations map onto the Admin API (reference/shopify.md):
- `upload_media`: `stagedUploadsCreate` (resource IMAGE, POST), the form posted to the storage target, then
  `fileCreate` with our file name (`duplicateResolutionMode: RAISE_ERROR`, so a name is never silently changed and
  `find_media` finds the file again after a crash); processing is asynchronous, so it polls `node` until the media
  is READY; FAILED becomes a sentence from `mediaErrors`. Images over 4472 px a side or 20 MP are scaled down
  first (the file name keeps the content hash of the approved image).
- `set_product_images`: media attach/detach with `fileUpdate` `referencesToAdd` / `referencesToRemove` (a detached
  file stays in Files, so a rollback can attach it again), then `productReorderMedia` (a job: polled until done),
  then the list read back. Detaching a media that a variant shows would clear it from the variant too: that is
  refused with a sentence, so no publish or rollback silently changes a variant.
- `set_variation_image`: the media is attached to the product if needed (Shopify shows a variant's media in the
  product's list), the variant's current media detached, ours appended (`productVariantAppendMedia`); `None`
  detaches. The product's list changes too, so publish snapshots and restores it (`variation_media_in_product`).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

from lib.errors import ImageUnreadable, PublishError, SourceNotFound
from lib.sku_match import SkuHit, pick
from lib.sources.shopify_client import ShopifyClient, user_errors
from lib.sources.shopify_ids import gid, media_gid, num, search_value

MAX_SIDE = 4472
MAX_PIXELS = 20_000_000
MAX_BYTES = 20 * 1024 * 1024
MAX_POLLS = 60
POLL_FIRST = 0.25
POLL_MAX = 2.0
# Waits while Shopify processes media or reorders. Module-level so tests and benchmarks replace it.
SLEEP: Callable[[float], None] = time.sleep

PRODUCT_MEDIA = """
query ProductMedia($id: ID!, $after: String) {
  product(id: $id) {
    media(first: 100, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } }
  }
}"""
PRODUCT_STATE = """
query ProductState($id: ID!) {
  product(id: $id) {
    title
    media(first: 250) { nodes { id } }
    variants(first: 100) { nodes { id title media(first: 1) { nodes { id } } } }
  }
}"""
VARIANT_MEDIA = """
query VariantMedia($id: ID!) {
  node(id: $id) { ... on ProductVariant { id product { id } media(first: 5) { nodes { id } } } }
}"""
FIND_FILE = """
query FindFile($query: String!) {
  files(first: 10, query: $query) {
    nodes { id fileStatus ... on MediaImage { status image { url } } }
  }
}"""
MEDIA_STATUS = """
query MediaStatus($id: ID!) {
  node(id: $id) {
    ... on MediaImage { id status alt image { url width height } mediaErrors { code details message } }
  }
}"""
STAGED_UPLOAD = """
mutation StagedUpload($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}"""
FILE_CREATE = """
mutation FileCreate($files: [FileCreateInput!]!) {
  fileCreate(files: $files) {
    files { id fileStatus }
    userErrors { code field message }
  }
}"""
FILE_UPDATE = """
mutation FileUpdate($files: [FileUpdateInput!]!) {
  fileUpdate(files: $files) {
    files { id }
    userErrors { code field message }
  }
}"""
FILE_DELETE = """
mutation FileDelete($ids: [ID!]!) {
  fileDelete(fileIds: $ids) { deletedFileIds userErrors { code field message } }
}"""
REORDER = """
mutation ReorderMedia($id: ID!, $moves: [MoveInput!]!) {
  productReorderMedia(id: $id, moves: $moves) {
    job { id done }
    mediaUserErrors { code field message }
  }
}"""
JOB = """
query JobDone($id: ID!) { job(id: $id) { id done } }
"""
VARIANT_APPEND = """
mutation VariantAppendMedia($productId: ID!, $pairs: [ProductVariantAppendMediaInput!]!) {
  productVariantAppendMedia(productId: $productId, variantMedia: $pairs) { userErrors { code field message } }
}"""
VARIANT_DETACH = """
mutation VariantDetachMedia($productId: ID!, $pairs: [ProductVariantDetachMediaInput!]!) {
  productVariantDetachMedia(productId: $productId, variantMedia: $pairs) { userErrors { code field message } }
}"""
VARIANT_BY_SKU = """
query VariantBySku($query: String!) {
  productVariants(first: 5, query: $query) {
    nodes { id sku displayName product { id title hasOnlyDefaultVariant } }
  }
}"""

FAILURES = {
    "UNSUPPORTED_IMAGE_FILE_TYPE": "Shopify could not read {name}: the file type is not supported (use JPEG, PNG, "
    "WebP or GIF).",
    "INVALID_IMAGE_FILE_SIZE": "{name} is over Shopify's 20 MB limit.",
    "INVALID_IMAGE_RESOLUTION": "{name} is over Shopify's limit of 4472×4472 pixels (20 megapixels).",
    "INVALID_IMAGE_ASPECT_RATIO": "{name} is too long and thin for Shopify (the sides must be within 100:1).",
    "IMAGE_DOWNLOAD_FAILURE": "Shopify could not fetch {name} from its upload storage. Publish again to retry.",
    "IMAGE_PROCESSING_FAILURE": "Shopify could not process {name}. Publish again to retry; if it fails again, the "
    "image may be damaged.",
    "FILE_STORAGE_LIMIT_EXCEEDED": "The shop's file storage is full: {name} was not stored.",
}


def fit_limits(data: bytes, mime: str) -> tuple[bytes, str, str | None]:
    """The image within Shopify's limits (4472 px a side, 20 MP, 20 MB), scaled down if needed; with a note saying
    what was done (None: unchanged). Refuses what scaling cannot fix (an aspect ratio over 100:1)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            fmt = im.format or "JPEG"
            if max(w, h) > 100 * max(1, min(w, h)):
                raise PublishError(
                    f"This image is {w}×{h} px: Shopify takes no image longer than 100 times its width. Crop it "
                    "and approve it again."
                )
            scale = min(1.0, MAX_SIDE / max(w, h), (MAX_PIXELS / (w * h)) ** 0.5)
            if scale >= 1.0 and len(data) <= MAX_BYTES:
                return data, mime, None
            size = (max(1, int(w * scale)), max(1, int(h * scale)))
            im.load()
            out = im.convert("RGB") if fmt in ("JPEG", "WEBP") else im.copy()
            if size != (w, h):
                out = out.resize(size, Image.Resampling.LANCZOS)
            for quality in (90, 82, 72, 60):
                buf = io.BytesIO()
                save_fmt = fmt if fmt in ("JPEG", "WEBP", "PNG") else "JPEG"
                out.save(buf, save_fmt, **({"quality": quality} if save_fmt != "PNG" else {"optimize": True}))
                if buf.tell() <= MAX_BYTES or save_fmt == "PNG":
                    break
            new_mime = {"JPEG": "image/jpeg", "WEBP": "image/webp", "PNG": "image/png"}[save_fmt]
            return buf.getvalue(), new_mime, f"scaled from {w}×{h} to {size[0]}×{size[1]} px for Shopify's limits"
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageUnreadable("The approved image could not be read for upload.", detail=type(exc).__name__) from exc


class ShopifyTarget:
    """PublishTarget over the Admin GraphQL API. Media ids are numeric strings for images ("7"), `Kind/7` else."""

    kind = "shopify"
    # A variant's image is one of the product's media: publishing one changes the product's list too.
    variation_media_in_product = True

    def __init__(self, client: ShopifyClient) -> None:
        self.client = client
        self.notes: list[str] = []  # what was done to images on the way (scaled down), for the publish log

    @property
    def job_id(self) -> int | None:
        return getattr(self.client, "job_id", None)

    @job_id.setter
    def job_id(self, value: int | None) -> None:
        self.client.job_id = value  # type: ignore[attr-defined]

    # Reading ---------------------------------------------------------------------------------------------
    def product_image_ids(self, product_id: str) -> list[str]:
        out: list[str] = []
        after = None
        while True:
            data = self.client.graphql(
                PRODUCT_MEDIA, {"id": gid("Product", product_id), "after": after}, what=f"Product {product_id}"
            )
            if data.get("product") is None:
                raise SourceNotFound(f"Product {product_id} no longer exists in the shop.")
            conn = data["product"]["media"]
            out += [num(n["id"]) for n in conn["nodes"]]
            if not conn["pageInfo"]["hasNextPage"]:
                return out
            after = conn["pageInfo"]["endCursor"]

    def variation_image_id(self, product_id: str, variation_id: str) -> str | None:
        data = self.client.graphql(VARIANT_MEDIA, {"id": gid("ProductVariant", variation_id)})
        node = data.get("node")
        if not node or num(node["product"]["id"]) != str(product_id):
            raise SourceNotFound(f"Variant {variation_id} of product {product_id} no longer exists in the shop.")
        nodes = node["media"]["nodes"]
        return num(nodes[0]["id"]) if nodes else None

    def variant_images(self, product_id: str) -> dict[str, str | None]:
        """Each variant's media, for checks that no variant is changed by accident."""
        data = self.client.graphql(PRODUCT_STATE, {"id": gid("Product", product_id)})
        if data.get("product") is None:
            raise SourceNotFound(f"Product {product_id} no longer exists in the shop.")
        return {
            num(v["id"]): (num(v["media"]["nodes"][0]["id"]) if v["media"]["nodes"] else None)
            for v in data["product"]["variants"]["nodes"]
        }

    def find_media(self, filename: str) -> str | None:
        """A file already made under exactly this name that is READY or on its way (FAILED ones are deleted, so the
        next upload may use the name)."""
        if not filename:
            return None
        data = self.client.graphql(FIND_FILE, {"query": f'filename:"{filename}"'})
        for node in data["files"]["nodes"]:
            url = ((node.get("image") or {}).get("url") or "").split("?", 1)[0]
            if url and url.rsplit("/", 1)[-1] != filename:
                continue  # the search matched loosely; only the exact name is ours
            if node.get("fileStatus") == "FAILED":
                self.client.graphql(FILE_DELETE, {"ids": [node["id"]]})
                continue
            self._wait_ready(node["id"], filename)
            return num(node["id"])
        return None

    # Uploading -------------------------------------------------------------------------------------------
    def upload_media(self, data: bytes, *, filename: str, mime: str, alt_text: str, title: str) -> str:
        if not data:
            raise PublishError("There is no image data to upload.")
        data, mime, note = fit_limits(data, mime)
        if note:
            self.notes.append(f"{filename}: {note}")
        staged = self.client.graphql(
            STAGED_UPLOAD,
            {
                "input": [
                    {
                        "filename": filename,
                        "mimeType": mime,
                        "resource": "IMAGE",
                        "httpMethod": "POST",
                        "fileSize": str(len(data)),
                    }
                ]
            },
        )["stagedUploadsCreate"]
        problem = user_errors(staged.get("userErrors"), f"prepare the upload of {filename}")
        if problem or not staged.get("stagedTargets"):
            raise PublishError(problem or f"Shopify gave no upload target for {filename}.")
        target = staged["stagedTargets"][0]
        self.client.post_staged(target, data, filename=filename, mime=mime)
        created = self.client.graphql(
            FILE_CREATE,
            {
                "files": [
                    {
                        "originalSource": target["resourceUrl"],
                        "contentType": "IMAGE",
                        "alt": alt_text[:512],
                        "filename": filename,
                        "duplicateResolutionMode": "RAISE_ERROR",
                    }
                ]
            },
        )["fileCreate"]
        errors = created.get("userErrors") or []
        if any(e.get("code") == "FILENAME_ALREADY_EXISTS" for e in errors):
            # Made by an earlier attempt whose answer was lost: that file is ours (the name carries the hash).
            found = self.find_media(filename)
            if found:
                return found
        problem = user_errors(errors, f"store {filename}")
        if problem or not created.get("files"):
            raise PublishError(problem or f"Shopify did not store {filename}.")
        media = created["files"][0]["id"]
        self._wait_ready(media, filename)
        return num(media)

    def _wait_ready(self, media: str, filename: str) -> None:
        delay = POLL_FIRST
        for _ in range(MAX_POLLS):
            node = self.client.graphql(MEDIA_STATUS, {"id": media})["node"] or {}
            status = node.get("status")
            if status == "READY":
                return
            if status == "FAILED":
                errors = node.get("mediaErrors") or []
                code = str(errors[0].get("code")) if errors else ""
                sentence = FAILURES.get(code, "Shopify could not process {name}" + (f" ({code})." if code else "."))
                raise PublishError(sentence.format(name=filename), detail=code or None)
            if not node:
                raise PublishError(f"Shopify lost {filename} while processing it. Publish again to retry.")
            SLEEP(delay)
            delay = min(POLL_MAX, delay * 1.5)
        raise PublishError(
            f"Shopify is still processing {filename}. Publish again in a minute: the file is reused, not uploaded "
            "again.",
            detail="processing timeout",
        )

    def set_media_text(self, media_id: str, *, alt_text: str, title: str) -> None:
        result = self.client.graphql(FILE_UPDATE, {"files": [{"id": media_gid(media_id), "alt": alt_text[:512]}]})
        problem = user_errors(result["fileUpdate"].get("userErrors"), "set the image's alt text")
        if problem:
            raise PublishError(problem)

    # Writing ---------------------------------------------------------------------------------------------
    def set_product_images(self, product_id: str, image_ids: list[str]) -> list[str]:
        pgid = gid("Product", product_id)
        current = self.product_image_ids(product_id)
        wanted = list(dict.fromkeys(image_ids))
        to_add = [m for m in wanted if m not in current]
        to_remove = [m for m in current if m not in wanted]
        if to_remove:
            used = {m: v for v, m in self.variant_images(product_id).items() if m in to_remove}
            if used:
                media, variant = next(iter(used.items()))
                raise PublishError(
                    f"Image #{media} is the image of variant #{variant} of product {product_id}: taking it off the "
                    "product would take it off the variant too. Nothing was changed; keep the image in the "
                    "gallery, or change the variant's image in Shopify first."
                )
        changes = [{"id": media_gid(m), "referencesToAdd": [pgid]} for m in to_add]
        changes += [{"id": media_gid(m), "referencesToRemove": [pgid]} for m in to_remove]
        for i in range(0, len(changes), 250):
            result = self.client.graphql(FILE_UPDATE, {"files": changes[i : i + 250]})
            problem = user_errors(result["fileUpdate"].get("userErrors"), f"change the images of product {product_id}")
            if problem:
                raise PublishError(problem)
        now = [m for m in current if m in wanted] + to_add
        moves = _moves(now, wanted)
        if moves:
            self._reorder(pgid, moves)
        return self.product_image_ids(product_id)

    def _reorder(self, pgid: str, moves: list[dict[str, str]]) -> None:
        result = self.client.graphql(REORDER, {"id": pgid, "moves": moves})["productReorderMedia"]
        problem = user_errors(result.get("mediaUserErrors"), "reorder the product's images")
        if problem:
            raise PublishError(problem)
        job = result.get("job") or {}
        delay = POLL_FIRST
        for _ in range(MAX_POLLS):
            if job.get("done") or not job.get("id"):
                return
            SLEEP(delay)
            delay = min(POLL_MAX, delay * 1.5)
            job = self.client.graphql(JOB, {"id": job["id"]}).get("job") or {}
        raise PublishError("Shopify is still reordering the product's images. Publish again in a minute.")

    def set_variation_image(self, product_id: str, variation_id: str, image_id: str | None) -> str | None:
        pgid, vgid = gid("Product", product_id), gid("ProductVariant", variation_id)
        current = self.variation_image_id(product_id, variation_id)
        if current == image_id:
            return current
        if image_id is not None and image_id not in self.product_image_ids(product_id):
            result = self.client.graphql(
                FILE_UPDATE, {"files": [{"id": media_gid(image_id), "referencesToAdd": [pgid]}]}
            )
            problem = user_errors(result["fileUpdate"].get("userErrors"), "attach the image to the product")
            if problem:
                raise PublishError(problem)
        if current is not None:
            detached = self.client.graphql(
                VARIANT_DETACH, {"productId": pgid, "pairs": [{"variantId": vgid, "mediaIds": [media_gid(current)]}]}
            )["productVariantDetachMedia"]
            problem = user_errors(detached.get("userErrors"), "take the variant's current image off")
            if problem:
                raise PublishError(problem)
        if image_id is not None:
            appended = self.client.graphql(
                VARIANT_APPEND, {"productId": pgid, "pairs": [{"variantId": vgid, "mediaIds": [media_gid(image_id)]}]}
            )["productVariantAppendMedia"]
            problem = user_errors(appended.get("userErrors"), "give the variant its image")
            if problem:
                raise PublishError(problem)
        return self.variation_image_id(product_id, variation_id)

    def product_for_sku(self, sku: str) -> SkuHit | None:
        """The product (a simple product's SKU is its default variant's) or variant with this SKU, exact spelling
        preferred, or None; an InputError in one sentence when the SKU is ambiguous (lib.sku_match)."""
        if not sku:
            return None
        data = self.client.graphql(VARIANT_BY_SKU, {"query": f"sku:{search_value(sku)}"})
        hits = []
        for node in data["productVariants"]["nodes"]:
            product = node["product"]
            simple = bool(product.get("hasOnlyDefaultVariant"))
            hits.append(
                SkuHit(
                    num(product["id"]),
                    None if simple else num(node["id"]),
                    str(product.get("title") or "") if simple else str(node.get("displayName") or ""),
                    str(node.get("sku") or ""),
                )
            )
        return pick(sku, hits, where="the shop")


def _moves(now: list[str], wanted: list[str]) -> list[dict[str, str]]:
    """productReorderMedia moves that turn `now` into `wanted`, applied in order (each move takes the media out and
    puts it at its new index), as few as a walk from the front gives."""
    order = list(now)
    moves = []
    for index, media in enumerate(wanted):
        if index < len(order) and order[index] == media:
            continue
        order.remove(media)
        order.insert(index, media)
        moves.append({"id": media_gid(media), "newPosition": str(index)})
    return moves
