/**
 * Genstore's ids (payment, capture, void, refund) end up as path segments of the callbacks we
 * send with the shop's token, and in our storage keys: 1-128 printable ASCII characters other
 * than / ? # % \, and neither "." nor "..". One rule for every id, on every protocol.
 */
export const genstoreIdPattern = /^(?!\.\.?$)[\x21\x22\x24\x26-\x2e\x30-\x3e\x40-\x5b\x5d-\x7e]{1,128}$/;

export const genstoreIdRule = 'must be 1-128 printable ASCII characters other than / ? # % \\ and spaces, and not "." or ".."';
