/** `text` cut to `max` characters (with an ellipsis), to quote model output in an error message. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
