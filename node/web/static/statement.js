// The accessibility statement (/accessibility): its words are in static/i18n.

import { applyDOM, languageSwitch } from './i18n.js';

applyDOM();
languageSwitch(document.getElementById('language'));
