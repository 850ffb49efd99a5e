// The part of age-encryption the web client uses; scripts/build-web-vendor.sh bundles this file
// into node/web/static/vendor/age-encryption.js.
export { Encrypter, Decrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
