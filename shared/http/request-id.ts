const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's x-request-id when it is sane (no CR/LF, bounded, plain characters); a fresh one otherwise. */
export function requestIdFrom(headerValue: string | null | undefined, newRequestId: () => string): string {
  return headerValue && SANE_REQUEST_ID.test(headerValue) ? headerValue : newRequestId();
}
