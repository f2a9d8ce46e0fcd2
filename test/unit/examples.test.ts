/**
 * Every example in conf.d-examples is a valid config for the plugin it names, and every
 * NetworkAttachmentDefinition carries one in spec.config (a JSON string), as Multus reads it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinTypes } from '../../src/registry.ts';
import { builtinLoader } from '../helpers/skel.ts';

const DIR = join(import.meta.dirname, '../../conf.d-examples');

async function validate(raw: Record<string, unknown>): Promise<void> {
  const plugin = await builtinLoader(String(raw.type))();
  expect(() => plugin.parseConfig(raw, new Map())).not.toThrow();
}

/** The block under `config: |-`, dedented (the YAML literal style the examples use). */
function nadConfig(yaml: string): string {
  const lines = yaml.split('\n');
  const at = lines.findIndex((l) => /^\s+config: \|-?\s*$/.test(l));
  expect(at, 'spec.config as a literal block').toBeGreaterThan(0);
  const body: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (l.trim() !== '' && !/^\s{4}/.test(l)) break;
    body.push(l);
  }
  const indent = Math.min(...body.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return body.map((l) => l.slice(indent)).join('\n');
}

describe('conf.d-examples', () => {
  const confs = readdirSync(DIR).filter((f) => f.endsWith('.conf'));
  it.each(confs.map((f) => [f]))('%s is valid for its plugin', async (f) => {
    await validate(JSON.parse(readFileSync(join(DIR, f), 'utf8')));
  });

  const nads = readdirSync(join(DIR, 'nad')).filter((f) => f.endsWith('.yaml'));
  it('has a NetworkAttachmentDefinition for every link plugin', () => {
    expect(nads.map((f) => f.replace('.yaml', '')).sort()).toEqual(builtinTypes('link').sort());
  });
  it.each(nads.map((f) => [f]))('nad/%s holds a valid config', async (f) => {
    const yaml = readFileSync(join(DIR, 'nad', f), 'utf8');
    expect(yaml).toMatch(/^apiVersion: k8s\.cni\.cncf\.io\/v1$/m);
    expect(yaml).toMatch(/^kind: NetworkAttachmentDefinition$/m);
    const conf = JSON.parse(nadConfig(yaml)) as Record<string, unknown>;
    const name = /^ {2}name: (\S+)$/m.exec(yaml)?.[1];
    expect(conf.name).toBe(name);
    await validate(conf);
  });
});
