// auth_request handler of the nginx DIY peer: introspect the bearer token through the cached
// /_introspect location (r.subrequest, so that proxy_cache applies; ngx.fetch would bypass it).
async function check(r) {
    const auth = r.headersIn.Authorization || '';
    if (!/^Bearer\s+\S+$/i.test(auth)) {
        r.return(401);
        return;
    }
    try {
        const res = await r.subrequest('/_introspect');
        if (res.status !== 200) {
            r.return(401);
            return;
        }
        const body = JSON.parse(res.responseText);
        r.return(body.active === true ? 204 : 401);
    } catch (e) {
        r.error('introspection failed: ' + e);
        r.return(401);
    }
}

export default { check };
