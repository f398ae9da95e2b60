import type { Db } from "mongodb";
import type { SecretBox } from "../crypto/secretBox.js";
import type { ShopConfig, ShopPatch, ShopRepository } from "../payments/shops.js";

/** A shop as stored: secrets sealed with the secret box, bound to the shop and field. */
interface ShopDocument {
  _id: string;
  psp: string;
  testCredentials: string;
  liveCredentials: string;
  genstoreAccessToken: string | null;
  genstoreClientSecret?: string | null;
  callbackBaseUrl: string;
  manualCaptureMeansAuthorizeOnly: boolean;
  redirectHosts?: string[];
  sendReceiptEmail?: boolean;
  shopDomain?: string | null;
  deactivatedAt?: Date | null;
  accountAuthorizedAt?: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The settings stored as they are (no secret among them). */
function plainFields(patch: ShopPatch): Partial<ShopDocument> {
  const out: Partial<ShopDocument> = {};
  if (patch.callbackBaseUrl !== undefined) out.callbackBaseUrl = patch.callbackBaseUrl;
  if (patch.manualCaptureMeansAuthorizeOnly !== undefined) out.manualCaptureMeansAuthorizeOnly = patch.manualCaptureMeansAuthorizeOnly;
  if (patch.redirectHosts !== undefined) out.redirectHosts = patch.redirectHosts;
  if (patch.sendReceiptEmail !== undefined) out.sendReceiptEmail = patch.sendReceiptEmail;
  // Cleared by undefined in the patch (null in the document).
  for (const k of ["shopDomain", "deactivatedAt", "accountAuthorizedAt"] as const) if (k in patch) (out as Record<string, unknown>)[k] = patch[k] ?? null;
  return out;
}

export function createShopRepository(db: Db, box: SecretBox): ShopRepository {
  const shops = db.collection<ShopDocument>("shops");
  const seal = (shopId: string, field: string, value: string) => box.seal(value, `shop:${shopId}:${field}`);
  const open = (shopId: string, field: string, value: string) => box.open(value, `shop:${shopId}:${field}`);

  function toDocumentFields(shopId: string, patch: ShopPatch): Partial<ShopDocument> {
    const out: Partial<ShopDocument> = {};
    if (patch.psp !== undefined) out.psp = patch.psp;
    if (patch.testCredentials !== undefined) out.testCredentials = seal(shopId, "testCredentials", JSON.stringify(patch.testCredentials));
    if (patch.liveCredentials !== undefined) out.liveCredentials = seal(shopId, "liveCredentials", JSON.stringify(patch.liveCredentials));
    if ("genstoreAccessToken" in patch) {
      out.genstoreAccessToken = patch.genstoreAccessToken ? seal(shopId, "genstoreAccessToken", patch.genstoreAccessToken) : null;
    }
    if ("genstoreClientSecret" in patch) {
      out.genstoreClientSecret = patch.genstoreClientSecret ? seal(shopId, "genstoreClientSecret", patch.genstoreClientSecret) : null;
    }
    return { ...out, ...plainFields(patch) };
  }

  function fromDocument(d: ShopDocument): ShopConfig {
    return {
      shopId: d._id,
      psp: d.psp,
      testCredentials: JSON.parse(open(d._id, "testCredentials", d.testCredentials)) as Record<string, string>,
      liveCredentials: JSON.parse(open(d._id, "liveCredentials", d.liveCredentials)) as Record<string, string>,
      genstoreAccessToken: d.genstoreAccessToken ? open(d._id, "genstoreAccessToken", d.genstoreAccessToken) : undefined,
      genstoreClientSecret: d.genstoreClientSecret ? open(d._id, "genstoreClientSecret", d.genstoreClientSecret) : undefined,
      callbackBaseUrl: d.callbackBaseUrl,
      manualCaptureMeansAuthorizeOnly: d.manualCaptureMeansAuthorizeOnly,
      redirectHosts: d.redirectHosts ?? [],
      sendReceiptEmail: d.sendReceiptEmail ?? false,
      ...(d.shopDomain ? { shopDomain: d.shopDomain } : {}),
      ...(d.deactivatedAt ? { deactivatedAt: d.deactivatedAt } : {}),
      ...(d.accountAuthorizedAt ? { accountAuthorizedAt: d.accountAuthorizedAt } : {}),
      createdAt: d.createdAt,
      updatedAt: d.updatedAt,
    };
  }

  return {
    async create(shop) {
      const doc = {
        _id: shop.shopId,
        ...toDocumentFields(shop.shopId, shop),
        createdAt: shop.createdAt,
        updatedAt: shop.updatedAt,
      } as ShopDocument;
      try {
        await shops.insertOne(doc);
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 11000) return false;
        throw err;
      }
    },
    async update(shopId, patch, at) {
      const doc = await shops.findOneAndUpdate({ _id: shopId }, { $set: { ...toDocumentFields(shopId, patch), updatedAt: at } }, { returnDocument: "after" });
      return doc ? fromDocument(doc) : null;
    },
    async get(shopId) {
      const doc = await shops.findOne({ _id: shopId });
      return doc ? fromDocument(doc) : null;
    },
    async list(after, limit) {
      const docs = await shops
        .find(after ? { _id: { $gt: after } } : {})
        .sort({ _id: 1 })
        .limit(limit)
        .toArray();
      return docs.map(fromDocument);
    },
    async delete(shopId) {
      return (await shops.deleteOne({ _id: shopId })).deletedCount > 0;
    },
  };
}
