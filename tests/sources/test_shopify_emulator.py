"""The Shopify emulator answers as reference/shopify.md says the real Admin API does (plain httpx, no app code)."""

from __future__ import annotations

import httpx
import pytest

from tests.emulators.shopify import ADMIN_TOKEN, CLIENT_ID, CLIENT_SECRET, INVALID_TOKEN, ShopifyEmulator
from tests.emulators.woocommerce import image_bytes

STAGE = """mutation($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) {
  stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }"""
CREATE = """mutation($f: [FileCreateInput!]!) { fileCreate(files: $f) {
  files { id fileStatus } userErrors { code field message } } }"""
STATUS = "query($id: ID!) { node(id: $id) { ... on MediaImage { status mediaErrors { code } } } }"


def gql(emu, query, variables=None, token=ADMIN_TOKEN):
    r = httpx.post(
        emu.graphql_url, json={"query": query, "variables": variables or {}}, headers={"X-Shopify-Access-Token": token}
    )
    return r.status_code, r.json()


def staged(emu, name="hero.png"):
    _, body = gql(
        emu, STAGE, {"input": [{"filename": name, "mimeType": "image/png", "resource": "IMAGE", "httpMethod": "POST"}]}
    )
    return body["data"]["stagedUploadsCreate"]["stagedTargets"][0]


def test_every_answer_carries_its_cost_and_the_bucket():
    with ShopifyEmulator() as emu:
        _, body = gql(emu, "{ products(first: 10) { nodes { id } } }")
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 12 and cost["actualQueryCost"] <= 12
        assert cost["throttleStatus"]["maximumAvailable"] == 1000.0 and cost["throttleStatus"]["restoreRate"] == 50.0


def test_a_query_the_bucket_cannot_pay_for_is_throttled_and_changes_nothing():
    with ShopifyEmulator(bucket_max=100) as emu:
        emu.clock = lambda: 0.0  # no refill
        status, body = gql(emu, "{ products(first: 99) { nodes { id } } }")
        assert status == 200 and body["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert body["extensions"]["cost"]["actualQueryCost"] is None


def test_wrong_token_is_401_with_shopifys_words():
    with ShopifyEmulator() as emu:
        status, body = gql(emu, "{ shop { name } }", token="shpat_nope")
        assert status == 401 and body == {"errors": INVALID_TOKEN}


def test_client_credentials_grant():
    with ShopifyEmulator() as emu:
        r = httpx.post(
            f"{emu.url}/admin/oauth/access_token",
            data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
        body = r.json()
        assert r.status_code == 200 and body["expires_in"] == 86399 and "write_files" in body["scope"]
        assert gql(emu, "{ shop { name } }", token=body["access_token"])[0] == 200


def test_staged_post_needs_the_fields_before_the_file_and_a_valid_signature():
    with ShopifyEmulator() as emu:
        t = staged(emu)
        fields = {p["name"]: p["value"] for p in t["parameters"]}
        files = {"file": ("hero.png", image_bytes((1, 2, 3), fmt="PNG"), "image/png")}
        assert httpx.post(t["url"], data={**fields, "x-goog-signature": "0" * 64}, files=files).status_code == 403
        assert httpx.post(t["url"], data=fields, files=files).status_code == 201


def test_media_processing_is_asynchronous_and_a_bad_file_fails_with_a_code():
    with ShopifyEmulator() as emu:
        for data, final in ((image_bytes((1, 2, 3), fmt="PNG"), "READY"), (b"not an image", "FAILED")):
            t = staged(emu)
            fields = {p["name"]: p["value"] for p in t["parameters"]}
            httpx.post(t["url"], data=fields, files={"file": ("hero.png", data, "image/png")})
            _, body = gql(emu, CREATE, {"f": [{"originalSource": t["resourceUrl"], "contentType": "IMAGE"}]})
            media = body["data"]["fileCreate"]["files"][0]
            assert media["fileStatus"] == "UPLOADED"
            seen = [gql(emu, STATUS, {"id": media["id"]})[1]["data"]["node"]["status"] for _ in range(3)]
            assert seen == ["PROCESSING", final, final]
        assert gql(emu, STATUS, {"id": media["id"]})[1]["data"]["node"]["mediaErrors"] == [
            {"code": "UNSUPPORTED_IMAGE_FILE_TYPE"}
        ]


def test_reorder_is_a_job_applied_later():
    with ShopifyEmulator() as emu:
        mug = emu.product_by_title("Red Mug")
        first, second = mug["media"]
        _, body = gql(
            emu,
            "mutation($id: ID!, $m: [MoveInput!]!) { productReorderMedia(id: $id, moves: $m) "
            "{ job { id done } mediaUserErrors { code } } }",
            {
                "id": f"gid://shopify/Product/{mug['id']}",
                "m": [{"id": f"gid://shopify/MediaImage/{second}", "newPosition": "0"}],
            },
        )
        job = body["data"]["productReorderMedia"]["job"]
        assert job["done"] is False and emu.product_media(mug["id"]) == [first, second]
        done = [
            gql(emu, "query($id: ID!) { job(id: $id) { done } }", {"id": job["id"]})[1]["data"]["job"]["done"]
            for _ in range(2)
        ]
        assert done == [False, True] and emu.product_media(mug["id"]) == [second, first]


@pytest.mark.parametrize(
    ("pair", "code"),
    [
        ({"mediaIds": ["gid://shopify/MediaImage/1"]}, "MEDIA_DOES_NOT_EXIST"),
        ({"mediaIds": ["a", "b"]}, None),
    ],
)
def test_variant_append_errors_are_media_user_errors(pair, code):
    with ShopifyEmulator() as emu:
        tee = emu.product_by_title("Classic Tee")
        black = emu.variant_by_sku("SH-TEE-BLK-S")
        ids = pair["mediaIds"] if code else [f"gid://shopify/MediaImage/{m}" for m in tee["media"][:2]]
        _, body = gql(
            emu,
            "mutation($p: ID!, $v: [ProductVariantAppendMediaInput!]!) "
            "{ productVariantAppendMedia(productId: $p, variantMedia: $v) { userErrors { code } } }",
            {
                "p": f"gid://shopify/Product/{tee['id']}",
                "v": [{"variantId": f"gid://shopify/ProductVariant/{black['id']}", "mediaIds": ids}],
            },
        )
        codes = [e["code"] for e in body["data"]["productVariantAppendMedia"]["userErrors"]]
        assert codes == [code or "TOO_MANY_MEDIA_PER_INPUT_PAIR"]
