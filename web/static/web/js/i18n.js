// Thin bridge to Django's JavaScript catalog (/jsi18n/), loaded before the modules.
// Falls back to the English source text so the client still works if the catalog fails.
const catalog = globalThis.django ?? {};

export function gettext(text) {
  return catalog.gettext ? catalog.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  if (catalog.ngettext) return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

export function interpolate(format, values, named = false) {
  if (catalog.interpolate) return catalog.interpolate(format, values, named);
  if (named) return format.replace(/%\((\w+)\)s/g, (_m, key) => String(values[key]));
  let index = 0;
  return format.replace(/%s/g, () => String(values[index++]));
}
