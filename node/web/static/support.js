// What a browser needs for a Parley meeting, and what it lacks: the web client refuses to
// join in a browser that cannot encrypt, and says what is missing rather than failing later.

import { MediaEncryption } from './e2ee/transform.js';
import { t } from './i18n.js';

/** missingFeatures resolves to the names of what this browser lacks (none: it can join). */
export async function missingFeatures() {
  const missing = [];
  if (typeof RTCPeerConnection === 'undefined') missing.push('WebRTC');
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) missing.push(t('support.mediaAccess'));
  if (!MediaEncryption.supported()) missing.push(t('support.transforms'));
  if (!globalThis.crypto || !crypto.subtle) {
    missing.push('WebCrypto');
  } else {
    for (const [name, usages] of [['Ed25519', ['sign', 'verify']], ['X25519', ['deriveBits']]]) {
      try {
        await crypto.subtle.generateKey({ name }, false, usages);
      } catch (_) {
        missing.push(`WebCrypto ${name}`);
      }
    }
  }
  return missing;
}
