export { decodePem, encodePem, looksLikePem, type PemBlock } from './pem.js';
