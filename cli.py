"""What the command-line scripts share: the --help formatter."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every default and the description as written; options whose default is None (decided at run
    time, or per --arch) say their default in their own help instead of a meaningless "(default: None)"."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)
