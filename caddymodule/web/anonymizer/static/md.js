// Markdown for model answers, rendered into DOM nodes built one by one:
// no HTML from the model is ever parsed, so "<img onerror=…>" is shown as
// the text it is. Links keep only http:, https: and mailto: targets.
'use strict';
(function () {
  function safeHref(url) {
    let u;
    try {
      u = new URL(url.trim());
    } catch (e) {
      return null; // relative or malformed: not a link
    }
    return ['http:', 'https:', 'mailto:'].includes(u.protocol) ? u.href : null;
  }

  function el(tag, parent, text) {
    const n = document.createElement(tag);
    if (text !== undefined) n.textContent = text;
    if (parent) parent.appendChild(n);
    return n;
  }

  const INLINE = /`([^`\n]+)`|\*\*([^*\n]+?)\*\*|__([^_\n]+?)__|\*([^*\s][^*\n]*?)\*|(?<![\w])_([^_\s][^_\n]*?)_(?![\w])|\[([^\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/;

  // inline appends text with code, emphasis and links to parent.
  function inline(text, parent) {
    let rest = text;
    while (rest.length > 0) {
      const m = INLINE.exec(rest);
      if (!m) {
        appendText(rest, parent);
        return;
      }
      if (m.index > 0) appendText(rest.slice(0, m.index), parent);
      if (m[1] !== undefined) el('code', parent, m[1]);
      else if (m[2] !== undefined || m[3] !== undefined) inline(m[2] !== undefined ? m[2] : m[3], el('strong', parent));
      else if (m[4] !== undefined || m[5] !== undefined) inline(m[4] !== undefined ? m[4] : m[5], el('em', parent));
      else if (m[6] !== undefined) link(m[6], m[7], parent, m[0]);
      else if (m[8] !== undefined) link(m[8], m[8], parent, m[0]);
      rest = rest.slice(m.index + m[0].length);
    }
  }

  function link(label, url, parent, raw) {
    const href = safeHref(url);
    if (!href) {
      appendText(label === url ? raw : label, parent); // the label alone, never a live link
      return;
    }
    const a = el('a', parent, label);
    a.href = href;
    a.rel = 'noopener noreferrer nofollow';
    a.target = '_blank';
  }

  // appendText keeps the line breaks of a paragraph.
  function appendText(text, parent) {
    const lines = text.split('\n');
    lines.forEach(function (line, i) {
      if (i > 0) el('br', parent);
      if (line) parent.appendChild(document.createTextNode(line));
    });
  }

  const FENCE = /^\s*(```|~~~)\s*([\w+-]*)\s*$/;
  const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
  const QUOTE = /^\s*>\s?(.*)$/;
  const UL = /^\s*[-*+]\s+(.*)$/;
  const OL = /^\s*\d{1,9}[.)]\s+(.*)$/;
  const HR = /^\s*([-*_])(\s*\1){2,}\s*$/;

  function isBlockStart(line) {
    return FENCE.test(line) || HEADING.test(line) || QUOTE.test(line) || UL.test(line) || OL.test(line) || HR.test(line);
  }

  // render returns a DocumentFragment for a Markdown text.
  function render(text) {
    const frag = document.createDocumentFragment();
    blocks(String(text).replace(/\r\n?/g, '\n').split('\n'), frag, 0);
    return frag;
  }

  function blocks(lines, parent, depth) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (line.trim() === '') {
        i++;
      } else if ((m = FENCE.exec(line))) {
        const code = [];
        i++;
        while (i < lines.length && !(FENCE.exec(lines[i]) && FENCE.exec(lines[i])[1] === m[1])) code.push(lines[i++]);
        i++; // the closing fence (or the end)
        const pre = el('pre', parent);
        const c = el('code', pre, code.join('\n'));
        if (m[2]) c.dataset.lang = m[2];
      } else if ((m = HEADING.exec(line))) {
        inline(m[2], el('h' + Math.min(6, m[1].length + 2), parent));
        i++;
      } else if (HR.test(line)) {
        el('hr', parent);
        i++;
      } else if (QUOTE.test(line)) {
        const inner = [];
        while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
          inner.push(m[1]);
          i++;
        }
        const q = el('blockquote', parent);
        if (depth < 8) blocks(inner, q, depth + 1);
        else appendText(inner.join('\n'), q);
      } else if (UL.test(line) || OL.test(line)) {
        const re = UL.test(line) ? UL : OL;
        const list = el(re === UL ? 'ul' : 'ol', parent);
        while (i < lines.length && (m = re.exec(lines[i]))) {
          const item = [m[1]];
          i++;
          while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !UL.test(lines[i]) && !OL.test(lines[i])) item.push(lines[i++].trim());
          inline(item.join('\n'), el('li', list));
        }
      } else {
        const para = [];
        while (i < lines.length && lines[i].trim() !== '' && (para.length === 0 || !isBlockStart(lines[i]))) para.push(lines[i++]);
        inline(para.join('\n'), el('p', parent));
      }
    }
  }

  window.renderMarkdown = render;
  window.safeHref = safeHref;
})();
