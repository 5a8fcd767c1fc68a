/** One platform account of a person. */
export interface PlatformIdentity {
  platform: string;
  platformUserId: string;
}

/**
 * Maps platform accounts to one canonical user id, so a person linked on
 * several platforms has one history and one memory. Shared by every interface.
 */
export interface IdentityResolver {
  /** The canonical user id of a platform account (`<platform>:<id>` until it is linked). */
  resolve(platform: string, platformUserId: string): Promise<string>;
  /** Links a platform account to a canonical user id. */
  link(platform: string, platformUserId: string, canonicalUserId: string): Promise<void>;
  /** Removes a platform account's link (it resolves to `<platform>:<id>` again). */
  unlink(platform: string, platformUserId: string): Promise<void>;
  /** Every platform account linked to a canonical user id. */
  getIdentities(canonicalUserId: string): Promise<PlatformIdentity[]>;
  /** Issues a single-use code (expires after `ttlMs`) that links another account to this user. */
  createLinkCode(canonicalUserId: string, ttlMs?: number): Promise<string>;
  /** Consumes a code: the canonical user id it was issued for, or `null` when unknown, used or expired. */
  redeemLinkCode(code: string): Promise<string | null>;
}

/** How long a link code stays valid: 10 minutes. */
export const LINK_CODE_TTL_MS = 10 * 60 * 1000;

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random 8-character link code of capital letters and digits (no look-alikes such as O/0, I/1). */
export function newLinkCode(random: (size: number) => Buffer): string {
  return [...random(8)].map((byte) => CODE_ALPHABET[byte % CODE_ALPHABET.length]).join('');
}

/** The canonical id of an account that was never linked. */
export function defaultUserId(platform: string, platformUserId: string): string {
  return `${platform}:${platformUserId}`;
}
