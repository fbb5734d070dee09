/**
 * App labels (what the launcher shows under an icon) for packages found on Xiaomi firmware, with a
 * fallback that derives a label from the package name.
 */

const LABELS: Record<string, string> = {
  'com.mi.globalbrowser': 'Mi Browser',
  'com.android.browser': 'Browser',
  'com.android.chrome': 'Chrome',
  'com.android.settings': 'Settings',
  'com.android.camera': 'Camera',
  'com.android.contacts': 'Phone',
  'com.android.dialer': 'Phone',
  'com.google.android.dialer': 'Phone',
  'com.android.mms': 'Messaging',
  'com.google.android.apps.messaging': 'Messages',
  'com.google.android.contacts': 'Contacts',
  'com.miui.gallery': 'Gallery',
  'com.miui.securitycenter': 'Security',
  'com.miui.cleanmaster': 'Cleaner',
  'com.android.thememanager': 'Themes',
  'com.xiaomi.market': 'GetApps',
  'com.xiaomi.mipicks': 'GetApps',
  'com.miui.notes': 'Notes',
  'com.android.deskclock': 'Clock',
  'com.miui.calculator': 'Calculator',
  'com.miui.weather2': 'Weather',
  'com.android.fileexplorer': 'File Manager',
  'com.mi.android.globalFileexplorer': 'File Manager',
  'com.miui.player': 'Music',
  'com.miui.videoplayer': 'Mi Video',
  'com.miui.compass': 'Compass',
  'com.android.soundrecorder': 'Recorder',
  'com.miui.screenrecorder': 'Screen Recorder',
  'com.xiaomi.scanner': 'Scanner',
  'com.android.calendar': 'Calendar',
  'com.xiaomi.calendar': 'Calendar',
  'com.miui.miservice': 'Services & feedback',
  'com.miui.android.fashiongallery': 'Wallpaper Carousel',
  'com.miui.fm': 'FM Radio',
  'com.miui.huanji': 'Mi Mover',
  'com.xiaomi.midrop': 'ShareMe',
  'com.mipay.wallet.in': 'Mi Pay',
  'com.xiaomi.account': 'Xiaomi Account',
  'com.miui.bugreport': 'Feedback',
  'com.xiaomi.glgm': 'Games',
  'com.miui.hybrid': 'Quick apps',
  'com.android.vending': 'Play Store',
  'com.google.android.gm': 'Gmail',
  'com.google.android.youtube': 'YouTube',
  'com.google.android.apps.maps': 'Maps',
  'com.google.android.apps.photos': 'Photos',
  'com.google.android.apps.docs': 'Drive',
  'com.google.android.googlequicksearchbox': 'Google',
  'com.google.android.apps.youtube.music': 'YT Music',
  'com.google.android.videos': 'Google TV',
  'com.google.android.apps.tachyon': 'Duo',
  'com.google.android.calendar': 'Calendar',
  'com.facebook.katana': 'Facebook',
  'com.whatsapp': 'WhatsApp',
  'com.miui.home': 'MIUI Launcher',
  'com.android.systemui': 'System UI',
  'io.appium.settings': 'Appium Settings',
};

const GENERIC = new Set([
  'android',
  'app',
  'apps',
  'mobile',
  'client',
  'main',
  'global',
  'lite',
  'in',
  'cn',
  'com',
]);

/** Launcher label for a package: known Xiaomi/Google labels, else derived (com.example.fooBar -> Foo Bar). */
export function appLabel(pkg: string): string {
  const known = LABELS[pkg];
  if (known) return known;
  const parts = pkg.split('.').filter(Boolean);
  let word = parts[parts.length - 1] ?? pkg;
  for (let i = parts.length - 1; i > 0 && GENERIC.has(word.toLowerCase()); i--) word = parts[i - 1]!;
  const spaced = word
    .replace(/[_-]+/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .trim();
  return spaced.replace(/\b\w/g, (c) => c.toUpperCase()) || pkg;
}
