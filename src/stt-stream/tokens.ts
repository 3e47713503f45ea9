import { createHash, randomBytes } from 'node:crypto';

/** A token lives this long unless the minter asks otherwise. */
export const DEFAULT_STREAM_TOKEN_TTL_SECS = 600;
/** Shortest lifetime a token gets, whatever was asked. */
export const MIN_STREAM_TOKEN_TTL_SECS = 30;
/** Longest lifetime a token gets, whatever was asked. Safe range 5..120 minutes. */
export const MAX_STREAM_TOKEN_TTL_SECS = 3600;

/** Why a token opens nothing; the texts are the listener's 401 bodies. */
export const TOKEN_REJECTIONS = {
  unknown: 'unknown stream token',
  expired: 'stream token expired',
} as const;
export type TokenRejection = keyof typeof TOKEN_REJECTIONS;

/** What `mint` hands the caller: the only place the raw token ever appears. */
export interface StreamGrant {
  /** 64 lowercase hex characters (256 random bits). */
  token: string;
  /** The model this token opens a stream on. */
  model: string;
  /** When it stops working (exactly then), as an ISO 8601 string in UTC. */
  expiresAt: string;
  /** The lifetime it got, after clamping. */
  ttlSecs: number;
}

export type TokenCheck = { ok: true; model: string } | { ok: false; reason: TokenRejection };

export interface StreamTokensOptions {
  /** The clock, in epoch milliseconds; tests move it. */
  now?: () => number;
}

interface StoredGrant {
  model: string;
  expiresAtMs: number;
}

function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function clampTtl(ttlSecs: number | undefined): number {
  const asked = ttlSecs === undefined || Number.isNaN(ttlSecs) ? DEFAULT_STREAM_TOKEN_TTL_SECS : ttlSecs;
  return Math.min(MAX_STREAM_TOKEN_TTL_SECS, Math.max(MIN_STREAM_TOKEN_TTL_SECS, asked));
}

/**
 * Short-lived stream tokens: the LAN listener's only guard, so the install token never leaves the
 * host. The store keeps each token's SHA-256 only, so a dump of it opens nothing. A token is not
 * single-use: it opens any number of sessions until it expires, and minting again revokes nothing.
 * Expired grants are pruned when a new one is minted.
 */
export class StreamTokens {
  private readonly grants = new Map<string, StoredGrant>();
  private readonly now: () => number;

  constructor(opts: StreamTokensOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** A fresh token for `model`, living `ttlSecs` (default 600) clamped to 30 s..1 h. */
  mint(model: string, ttlSecs?: number): StreamGrant {
    const now = this.now();
    const ttl = clampTtl(ttlSecs);
    const expiresAtMs = now + ttl * 1000;
    for (const [hash, grant] of this.grants) {
      if (grant.expiresAtMs <= now) this.grants.delete(hash);
    }
    const token = randomBytes(32).toString('hex');
    this.grants.set(sha256Hex(token), { model, expiresAtMs });
    return { token, model, expiresAt: new Date(expiresAtMs).toISOString(), ttlSecs: ttl };
  }

  /** The model `token` opens, or why it opens none. Expiry is inclusive: dead at exactly `expiresAt`. */
  verify(token: string): TokenCheck {
    const grant = this.grants.get(sha256Hex(token));
    if (!grant) return { ok: false, reason: 'unknown' };
    if (grant.expiresAtMs <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, model: grant.model };
  }

  /** The model `token` opens, or undefined when it is unknown or expired. */
  check(token: string): string | undefined {
    const result = this.verify(token);
    return result.ok ? result.model : undefined;
  }

  /** Grants still stored, live or expired but not yet pruned. */
  get size(): number {
    return this.grants.size;
  }
}
