/** Where SharePoint's REST calls live. */
const API_PREFIX = '/_api/';

/**
 * SharePoint matches its `_api` paths in any case, and PnPjs lower-cases them; the routes are
 * registered lower case, so the path is lower-cased before routing. Only a path under `/_api/`, and
 * never its query: `?@v='Ada@Contoso.example'` reaches the route as it was sent.
 */
export function lowerCaseApiPath(url: string): string {
  if (url.slice(0, API_PREFIX.length).toLowerCase() !== API_PREFIX) return url;
  const query = url.indexOf('?');
  return query === -1 ? url.toLowerCase() : `${url.slice(0, query).toLowerCase()}${url.slice(query)}`;
}
