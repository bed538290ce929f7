// meshbridge's library entry: the SPIFFE kernel. The CLI is `meshbridge`.
export * from './spiffe/index.js';
