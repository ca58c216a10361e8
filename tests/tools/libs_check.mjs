// Loads the original and the minified build of real libraries and compares what their functions
// return. Used by tests/minify_libs.rs:
//
//   node libs_check.mjs ORIG_DIR MIN_DIR TOOLS_DIR [LIBRARY...]
//
// ORIG_DIR and MIN_DIR each hold jquery.js, lodash.js, d3.js (classic scripts, run as a browser
// would: top-level names are globals of a fresh realm) and three.module.js (an ES module, loaded
// with import()). TOOLS_DIR has node_modules/jsdom (a DOM for jQuery and d3-selection).
// Prints one line per library and, for each difference, which function and both results.
// Exit status 1 when anything differs or throws. LIBS_CHECK_DUMP=1 also prints the original's results.

import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [origDir, minDir, toolsDir, ...only] = process.argv.slice(2);
if (!origDir || !minDir || !toolsDir) {
  console.error('usage: node libs_check.mjs ORIG_DIR MIN_DIR TOOLS_DIR [LIBRARY...]');
  process.exit(2);
}
const toolsRequire = createRequire(path.join(path.resolve(toolsDir), 'node_modules', 'noop.js'));
const { JSDOM } = toolsRequire('jsdom');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sortedKeys = (o) => Object.keys(o).sort().map((k) => `${k}:${typeof o[k]}`);

/** Runs a classic script in a fresh realm whose global object is the returned context. */
function loadScript(file, extra = {}) {
  const ctx = vm.createContext({ setTimeout, clearTimeout, setInterval, clearInterval, console, ...extra });
  vm.runInContext(fs.readFileSync(file, 'utf8'), ctx, { filename: file });
  return ctx;
}

function newDom() {
  return new JSDOM('<!DOCTYPE html><html><head><title>t</title></head><body><div id="root"></div></body></html>', {
    runScripts: 'outside-only',
    url: 'https://example.test/page.html',
  });
}

const libraries = {
  lodash: {
    file: 'lodash.js',
    load: (file) => loadScript(file)._,
    checks: {
      exports: (_) => sortedKeys(_),
      version: (_) => _.VERSION,
      chunk: (_) => [_.chunk(['a', 'b', 'c', 'd', 'e'], 2), _.chunk([1, 2, 3], 0), _.chunk([1, 2, 3, 4], 3)],
      template: (_) => {
        const simple = _.template('hello <%= user %>!');
        const loop = _.template('<% _.forEach(users, function(u) { %><li><%- u %></li><% }); %>');
        const es = _.template('${greeting}, ${ name.toUpperCase() }<% if (n > 1) { %> x<%= n %><% } %>');
        const named = _.template('<%= data.a + data.b %>', { variable: 'data' });
        const custom = _.template('hi {{ who }}', { interpolate: /{{([\s\S]+?)}}/g });
        return [
          simple({ user: 'fred' }),
          loop({ users: ['a<b', 'c&d', '"q"'] }),
          es({ greeting: 'Hey', name: 'ann', n: 3 }),
          named({ a: 2, b: 40 }),
          custom({ who: 'there' }),
          simple.source,
          loop.source,
        ];
      },
      debounce: async (_) => {
        let trailing = 0;
        let leading = 0;
        const f = _.debounce(() => trailing++, 20);
        const g = _.debounce(() => leading++, 20, { leading: true, trailing: false });
        f(); f(); f(); g(); g();
        const before = [trailing, leading];
        await sleep(80);
        const cancelled = _.debounce(() => trailing++, 10);
        cancelled();
        cancelled.cancel();
        await sleep(30);
        return { type: typeof _.debounce, before, after: [trailing, leading], throttle: typeof _.throttle };
      },
      cloneDeep: (_) => {
        const o = { a: [1, { b: 2 }], d: new Date(86400000), r: /x+/gi, m: new Map([[1, { z: 1 }]]), s: new Set([3, 4]), n: null, u: undefined };
        o.self = o;
        const c = _.cloneDeep(o);
        return {
          json: JSON.stringify(_.omit(c, ['self', 'm', 's'])),
          fresh: [c !== o, c.a !== o.a, c.a[1] !== o.a[1], c.d !== o.d, c.m.get(1) !== o.m.get(1)],
          circular: c.self === c,
          date: c.d.getTime(),
          regexp: [c.r.source, c.r.flags],
          map: [...c.m],
          set: [...c.s],
          hasU: 'u' in c,
          equal: _.isEqual(_.omit(c, 'self'), _.omit(o, 'self')),
        };
      },
      groupBy: (_) => [
        _.groupBy([6.1, 4.2, 6.3], Math.floor),
        _.groupBy(['one', 'two', 'three'], 'length'),
        _.groupBy([{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 3 }], (x) => x.k),
      ],
      more: (_) => {
        const users = [{ user: 'fred', age: 48 }, { user: 'barney', age: 36 }, { user: 'fred', age: 40 }];
        const memo = _.memoize((n) => n * 2);
        memo(2);
        return {
          sortBy: _.sortBy(users, ['user', 'age']),
          orderBy: _.orderBy(users, ['user', 'age'], ['desc', 'asc']),
          merge: _.merge({ a: [{ b: 2 }, { d: 4 }] }, { a: [{ c: 3 }, { e: 5 }] }),
          get: [_.get({ a: [{ b: { c: 3 } }] }, 'a[0].b.c'), _.get({}, 'x.y', 'dflt')],
          set: _.set({}, 'a[0].b', 1),
          strings: [_.camelCase('Foo Bar'), _.kebabCase('fooBar'), _.snakeCase('--FOO-BAR--'), _.escape('<a href="x">&</a>'), _.unescape('&lt;b&gt;'), _.padStart('7', 3, '0'), _.words("fred, barney, & pebbles")],
          arrays: [_.range(0, 20, 5), _.uniqBy([2.1, 1.2, 2.3], Math.floor), _.difference([2, 1], [2, 3]), _.zip(['a', 'b'], [1, 2]), _.flattenDeep([1, [2, [3, [4]], 5]]), _.intersection([2, 1], [2, 3]), _.sortedIndex([30, 50], 40)],
          objects: [_.pick({ a: 1, b: '2', c: 3 }, ['a', 'c']), _.mapValues({ a: 1, b: 2 }, (v) => v * 10), _.invert({ a: 1, b: 2 }), _.defaultsDeep({ a: { b: 2 } }, { a: { b: 1, c: 3 } })],
          fn: [_.flow([(x) => x + 1, (x) => x * 3])(2), _.curry((a, b, c) => [a, b, c])(1)(2)(3), memo.cache.has(2), _.partial((a, b) => a - b, 10)(3)],
          isEqual: [_.isEqual({ a: [1, { b: new Date(0) }] }, { a: [1, { b: new Date(0) }] }), _.isEqual([1, 2], [2, 1])],
          chain: _.chain([3, 1, 2]).sortBy().map((x) => x * x).reverse().value(),
          lazy: _([1, 2, 3, 4, 5, 6, 7, 8]).map((x) => x * 2).filter((x) => x % 3 === 0).take(2).value(),
        };
      },
    },
  },

  d3: {
    file: 'd3.js',
    load: (file) => loadScript(file, { performance }).d3,
    checks: {
      exports: (d3) => sortedKeys(d3),
      version: (d3) => d3.version,
      format: (d3) => {
        const specs = ['.2f', ',', ',.2r', '.2s', '$,.2f', '+.1%', '08.3f', 'x', '.3e', '.3~g', '(.1f', '.0%'];
        const values = [3.14159, 1234567.891, 42e6, -0.0042, 0];
        return specs.map((s) => [s, values.map(d3.format(s))]).concat([[d3.formatPrefix(',.0', 1e3)(1500)], [d3.precisionFixed(0.01)]]);
      },
      scaleLinear: (d3) => {
        const s = d3.scaleLinear().domain([0, 10]).range([0, 100]);
        const odd = d3.scaleLinear().domain([1.3, 97.6]).nice();
        const clamped = d3.scaleLinear().domain([0, 1]).range([10, 20]).clamp(true);
        const color = d3.scaleLinear().domain([0, 1]).range(['red', 'blue']);
        return [s(2.5), s.invert(75), s.ticks(5), s.ticks(7).map(s.tickFormat(7)), odd.domain(), odd.ticks(), clamped(5), clamped(-1), color(0.25),
          d3.scaleLog().domain([1, 1000]).ticks().length, d3.scaleBand().domain(['a', 'b', 'c']).range([0, 120]).padding(0.1).bandwidth(),
          d3.scaleOrdinal(d3.schemeCategory10)('x'), d3.scaleUtc().domain([Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 8)]).ticks(4).map((t) => t.toISOString())];
      },
      csvParse: (d3) => {
        const text = 'name,age,when\nAlice,30,2020-01-02\n"Bob, Jr","4""2",\n';
        const rows = d3.csvParse(text);
        const typed = d3.csvParse(text, d3.autoType);
        return [rows, rows.columns, typed.map((r) => [r.name, r.age, r.when && r.when.toISOString()]), d3.csvFormat(rows), d3.tsvParseRows('a\tb\n1\t2'), d3.dsvFormat(';').parse('x;y\n1;2')];
      },
      extent: (d3) => [d3.extent([3, 1, NaN, 7, 2]), d3.extent([{ v: 'b' }, { v: 'a' }], (d) => d.v), d3.extent([]),
        d3.sum([1, 2, 3.5]), d3.mean([1, 2, 4]), d3.median([5, 1, 3]), d3.quantile([0, 10, 20, 30], 0.4), d3.deviation([1, 2, 3, 4]),
        d3.bisectLeft([1, 2, 3], 2), d3.bin().thresholds(4)([1, 2, 2, 3, 5, 8, 13]).map((b) => [b.x0, b.x1, b.length]),
        Array.from(d3.group([{ a: 1 }, { a: 2 }, { a: 1 }], (d) => d.a), ([k, v]) => [k, v.length]), d3.range(0, 1, 0.25), d3.ticks(0, 1, 5)],
      shapesAndColors: (d3) => [
        d3.line()([[0, 0], [1, 2], [3, 1]]),
        d3.line().curve(d3.curveCatmullRom)([[0, 0], [1, 2], [3, 1], [4, 4]]),
        d3.arc()({ innerRadius: 5, outerRadius: 10, startAngle: 0, endAngle: Math.PI / 2 }),
        d3.pie()([1, 2, 3]).map((a) => [a.startAngle, a.endAngle]),
        d3.interpolateRgb('red', 'blue')(0.3), d3.interpolate({ a: 1, b: 'x 2' }, { a: 3, b: 'x 6' })(0.5),
        d3.color('steelblue').darker(1).toString(), d3.hsl('#336699').toString(), d3.interpolateViridis(0.5),
        d3.utcFormat('%Y-%m-%dT%H:%M %a %B')(new Date(Date.UTC(2020, 1, 29, 13, 5))), d3.utcParse('%Y-%m-%d')('2021-03-04').toISOString(),
        d3.utcDay.count(new Date(Date.UTC(2020, 0, 1)), new Date(Date.UTC(2020, 2, 1))),
      ],
      layouts: (d3) => {
        const root = d3.hierarchy({ name: 'r', children: [{ name: 'a', v: 3 }, { name: 'b', children: [{ name: 'c', v: 1 }, { name: 'd', v: 2 }] }] }).sum((d) => d.v || 0);
        d3.tree().size([100, 50])(root);
        const tree = root.descendants().map((n) => [n.data.name, n.x, n.y, n.value]);
        const packed = d3.pack().size([100, 100])(root.copy()).descendants().map((n) => [n.x, n.y, n.r]);
        const nodes = [{}, {}, {}, {}];
        const sim = d3.forceSimulation(nodes).force('charge', d3.forceManyBody()).force('link', d3.forceLink([{ source: 0, target: 1 }, { source: 1, target: 2 }])).stop();
        sim.tick(30);
        const geo = d3.geoPath(d3.geoMercator().scale(100).translate([0, 0]))({ type: 'Polygon', coordinates: [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]] });
        const delaunay = Array.from(d3.Delaunay.from([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.4]]).triangles);
        return { tree, packed, force: nodes.map((n) => [n.x, n.y]), geo, delaunay };
      },
      selection: (d3) => {
        const dom = newDom();
        const body = dom.window.document.body;
        const sel = d3.select(body).selectAll('p').data([1, 2, 3]).join('p').attr('class', (d) => `p${d}`).text((d) => d * 2);
        d3.select(body).selectAll('p').data([2, 3], (d) => d).join((e) => e.append('p').text('new'), (u) => u.classed('kept', true), (x) => x.remove());
        return [sel.size(), body.innerHTML];
      },
    },
  },

  three: {
    file: 'three.module.js',
    load: (file) => import(pathToFileURL(file).href),
    checks: {
      exports: (T) => sortedKeys(T),
      revision: (T) => T.REVISION,
      vector3: (T) => {
        const a = new T.Vector3(1, 2, 3);
        const b = new T.Vector3(-4, 0.5, 2);
        const m = new T.Matrix4().makeRotationY(0.4).setPosition(1, -2, 3);
        const q = new T.Quaternion().setFromAxisAngle(new T.Vector3(0, 0, 1), Math.PI / 3);
        const cam = new T.PerspectiveCamera(50, 1.5, 0.1, 100);
        cam.position.set(0, 0, 10);
        cam.updateMatrixWorld();
        return [a.clone().add(b).toArray(), a.clone().sub(b).toArray(), a.clone().cross(b).toArray(), a.dot(b), a.length(),
          a.clone().normalize().toArray(), a.clone().applyMatrix4(m).toArray(), a.clone().applyQuaternion(q).toArray(),
          a.angleTo(b), a.clone().lerp(b, 0.3).toArray(), a.distanceTo(b), a.clone().project(cam).toArray(),
          new T.Vector3().setFromSphericalCoords(2, 0.5, 1).toArray(), a.clone().reflect(new T.Vector3(0, 1, 0)).toArray()];
      },
      matrix4: (T) => {
        const m1 = new T.Matrix4().makeRotationX(0.3);
        const m2 = new T.Matrix4().compose(new T.Vector3(1, 2, 3), new T.Quaternion().setFromEuler(new T.Euler(0.1, 0.2, 0.3)), new T.Vector3(2, 2, 0.5));
        const prod = m1.clone().multiply(m2);
        const inv = prod.clone().invert();
        const pos = new T.Vector3(); const quat = new T.Quaternion(); const scale = new T.Vector3();
        prod.decompose(pos, quat, scale);
        return [prod.elements, inv.elements, prod.determinant(), inv.clone().multiply(prod).elements, pos.toArray(), quat.toArray(), scale.toArray(),
          new T.Matrix4().lookAt(new T.Vector3(1, 1, 1), new T.Vector3(), new T.Vector3(0, 1, 0)).elements,
          new T.Matrix4().makePerspective(-1, 1, 1, -1, 0.1, 100).elements, new T.Matrix3().getNormalMatrix(prod).elements];
      },
      quaternion: (T) => {
        const q1 = new T.Quaternion().setFromAxisAngle(new T.Vector3(1, 1, 0).normalize(), 0.7);
        const q2 = new T.Quaternion().setFromEuler(new T.Euler(0.1, 0.2, 0.3, 'XYZ'));
        const out = [];
        T.Quaternion.slerpFlat(out, 0, q1.toArray(), 0, q2.toArray(), 0, 0.6);
        return [q1.clone().slerp(q2, 0.25).toArray(), q1.clone().slerp(q2, 1).toArray(), q1.angleTo(q2), q1.clone().multiply(q2).toArray(),
          q1.clone().invert().toArray(), out, new T.Euler().setFromQuaternion(q1, 'YXZ').toArray(),
          new T.Quaternion().setFromUnitVectors(new T.Vector3(1, 0, 0), new T.Vector3(0, 1, 0)).toArray()];
      },
      scene: (T) => {
        const mesh = new T.Mesh(new T.BoxGeometry(1, 2, 3, 2, 2, 2), new T.MeshBasicMaterial());
        mesh.position.set(0.5, 0, 0);
        mesh.rotation.set(0, 0.3, 0);
        const group = new T.Group();
        group.add(mesh);
        group.scale.set(2, 2, 2);
        group.updateMatrixWorld(true);
        const box = new T.Box3().setFromObject(group);
        const ray = new T.Raycaster(new T.Vector3(-10, 0.1, 0.2), new T.Vector3(1, 0, 0));
        const hits = ray.intersectObject(group, true).map((h) => [h.distance, h.faceIndex, h.point.toArray()]);
        const sphere = new T.SphereGeometry(1, 8, 6);
        sphere.computeBoundingSphere();
        return { box: [box.min.toArray(), box.max.toArray()], hits, counts: [mesh.geometry.attributes.position.count, mesh.geometry.index.count, sphere.attributes.position.count],
          sphere: sphere.boundingSphere.radius, color: [new T.Color('hsl(120, 50%, 50%)').getHexString(), new T.Color(0x336699).getStyle(), new T.Color().setHSL(0.6, 0.5, 0.4).toArray()],
          curve: new T.CatmullRomCurve3([new T.Vector3(0, 0, 0), new T.Vector3(1, 2, 0), new T.Vector3(3, 1, 1)]).getPoints(4).map((p) => p.toArray()),
          math: [T.MathUtils.clamp(5, 0, 1), T.MathUtils.smoothstep(0.3, 0, 1), T.MathUtils.degToRad(90), T.MathUtils.euclideanModulo(-1, 3)] };
      },
    },
  },

  jquery: {
    file: 'jquery.js',
    load: (file) => {
      const dom = newDom();
      dom.window.eval(fs.readFileSync(file, 'utf8'));
      const $ = dom.window.jQuery;
      if (!$ || dom.window.$ !== $) throw new Error('jQuery did not install window.jQuery/window.$');
      return $;
    },
    checks: {
      exports: ($) => [sortedKeys($), sortedKeys($.fn), $.fn.jquery],
      extend: ($) => [$.extend(true, { a: { b: 1 }, arr: [1, 2], k: 'x' }, { a: { c: 2 }, arr: [3] }, { n: null }), $.extend({ a: { b: 1 } }, { a: { c: 2 } }), $.extend({}, undefined, { z: 1 })],
      map: ($) => [$.map([1, 2, 3], (x) => x * 2), $.map([0, 1], (n) => [n, n + 1]), $.map({ a: 1, b: 2 }, (v, k) => k + v), $.map([1, null, 2], (x) => x),
        $.grep([1, 2, 3, 4], (x) => x % 2 === 0), $.merge([1], [2, 3]), $.inArray(3, [1, 2, 3]), $.makeArray({ 0: 'a', 1: 'b', length: 2 })],
      typeAndPlain: ($) => {
        const win = $('body')[0].ownerDocument.defaultView;
        const values = [null, undefined, 1, 'a', true, [], {}, /x/, new Date(0), () => 1, new Error('e'), win.eval('({})'), win.eval('[]')];
        return [values.map((v) => $.type(v)), values.map((v) => $.isPlainObject(v)), $.isPlainObject(Object.create(null)), $.isPlainObject(win),
          $.isEmptyObject({}), $.isEmptyObject({ a: 1 }), $.isFunction(() => 1), $.isArray([]), $.isNumeric('4.5'), $.isNumeric('4x'), $.trim('  t  '), $.camelCase('a-b-c')];
      },
      dom: ($) => {
        const doc = $('body')[0].ownerDocument;
        const parsed = $.parseHTML('<p class="a">x<b>y</b></p><!--c-->text', doc, false).map((n) => n.nodeName);
        const root = $('<div id="dom-check"></div>').appendTo('body');
        root.append('<ul><li>one</li><li class="k">two</li><li data-n="3" data-obj=\'{"a":1}\'>three</li></ul>');
        root.find('li').addClass('on item').filter(':odd').addClass('odd');
        root.find('li').eq(0).toggleClass('on').end().last().removeClass('item');
        const third = root.find('li:eq(2)');
        third.attr('title', 'T').prop('hidden', false).css('color', 'red').data('extra', 7);
        $('<em>w</em>').insertAfter(third).wrap('<span class="wrap"></span>');
        return {
          parsed,
          text: root.find('.k').text(),
          texts: root.find('li').map((i, el) => $(el).text()).get(),
          classes: root.find('li').map((i, el) => el.className).get(),
          selectors: [root.find('li:not(.k)').length, root.find('li:contains(thr)').text(), $('#dom-check li:nth-child(2n+1)').length, $('#dom-check ul > li.on').length,
            $('#dom-check ul > :last-child').text(), root.find('li').index(root.find('.k')), $('[data-n=3]').length, root.find('li:first, li:last').length],
          attrs: [third.attr('title'), third.css('color'), third.data('n'), third.data('obj'), third.data('extra'), third.is('.item'), third.closest('#dom-check').length, third.siblings().length, third.prev().text()],
          html: root.html(),
          clone: root.clone().find('li').remove().end().html(),
        };
      },
      events: ($) => {
        const root = $('<div id="events-check"><ul><li>one</li><li class="k">two</li></ul><button>b</button></div>').appendTo('body');
        const seen = [];
        root.on('click.ns', 'li', function (e) { seen.push(['delegated', $(this).text(), e.type]); });
        root.find('button').on('click', (e, extra) => seen.push(['direct', extra || '']));
        root.find('.k').trigger('click');
        root.find('li:first').click();
        root.find('button').trigger('click', ['x']);
        root.off('.ns');
        root.find('.k').trigger('click');
        seen.push('after off');
        root.find('button').off('click').trigger('click');
        $(root).one('custom', () => seen.push('once'));
        root.trigger('custom').trigger('custom');
        return seen;
      },
      forms: ($) => {
        const form = $('<form><input name="a" value="1 2"><input type="checkbox" name="c" value="y" checked><select name="s"><option>p</option><option selected>q</option></select><textarea name="t">z&amp;</textarea></form>');
        return [form.serialize(), form.serializeArray(), form.find('select').val(), $.param({ a: [1, 2], b: 'x y', c: { d: 1 } }), $.param({ a: [1, 2] }, true)];
      },
      deferred: async ($) => {
        const d = $.Deferred();
        const seen = [];
        $.when(d.promise(), 'v').then((a, b) => seen.push([a, b]));
        const failed = $.Deferred().reject('no');
        failed.catch((e) => seen.push(['caught', e]));
        d.resolve('ok');
        await new Promise((r) => setTimeout(r, 20));
        const cb = $.Callbacks('once memory');
        cb.add((x) => seen.push(['cb', x]));
        cb.fire(1);
        cb.fire(2);
        return [seen, d.state(), failed.state()];
      },
    },
  },
};

async function run(lib, which, dir) {
  const def = libraries[lib];
  const file = path.resolve(dir, def.file);
  let api;
  try {
    api = await def.load(file);
  } catch (e) {
    return { loadError: `${which} ${def.file} does not load: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}` };
  }
  const results = {};
  for (const [name, check] of Object.entries(def.checks)) {
    try {
      results[name] = JSON.stringify(await check(api));
    } catch (e) {
      results[name] = `THROWS ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`;
    }
  }
  return { results };
}

const clip = (s) => (s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s);

/** Where two JSON strings first differ, with a little context: the fastest way to the cause. */
function firstDifference(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `at char ${i}: original …${a.slice(Math.max(0, i - 80), i + 80)}… minified …${b.slice(Math.max(0, i - 80), i + 80)}…`;
}

let failures = 0;
for (const lib of Object.keys(libraries)) {
  if (only.length && !only.includes(lib)) continue;
  const start = Date.now();
  const orig = await run(lib, 'original', origDir);
  const min = await run(lib, 'minified', minDir);
  const problems = [];
  if (orig.loadError) problems.push(orig.loadError);
  if (min.loadError) problems.push(min.loadError);
  if (!problems.length) {
    for (const name of Object.keys(libraries[lib].checks)) {
      const a = orig.results[name];
      const b = min.results[name];
      if (a.startsWith('THROWS')) problems.push(`${lib}.${name}: the check itself fails on the ORIGINAL: ${a}`);
      else if (a !== b) problems.push(`${lib}.${name}: results differ\n    original: ${clip(a)}\n    minified: ${clip(b)}\n    first difference ${firstDifference(a, b)}`);
    }
  }
  const n = Object.keys(libraries[lib].checks).length;
  if (process.env.LIBS_CHECK_DUMP && orig.results) {
    for (const [name, r] of Object.entries(orig.results)) console.log(`  ${lib}.${name} = ${clip(r)}`);
  }
  if (problems.length) {
    failures += problems.length;
    console.log(`FAIL ${lib}: ${problems.length} of ${n} checks`);
    for (const p of problems) console.log(`  ${p}`);
  } else {
    const bytes = Object.values(orig.results).reduce((s, r) => s + r.length, 0);
    console.log(`ok   ${lib}: ${n} checks equal (${bytes} bytes of results, ${Date.now() - start} ms)`);
  }
}
console.log(failures ? `libs_check: ${failures} difference(s)` : 'libs_check: all libraries behave the same');
process.exit(failures ? 1 : 0);
